package invariants

import (
	"sort"
	"time"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/test/chaos/record"
)

// Invariant names one promise the checker holds a record to. The names are
// stable: runs, documents and dashboards compare them across versions.
type Invariant string

// The invariants, in the order Report lists them.
const (
	// TaskStatesForward: no Task state moves backwards (STAGING <
	// STARTING < RUNNING < KILLING < terminal), no terminal state or its
	// data changes, no state is removed. Checked counts the pairs of
	// successive entries of one task that were compared.
	TaskStatesForward Invariant = "TaskStatesForward"
	// NoRunAfterUnreachable: no task starts or runs under an agentID
	// after that agentID was marked Unreachable or Gone. Checked counts
	// the task entries that start or run a task.
	NoRunAfterUnreachable Invariant = "NoRunAfterUnreachable"
	// MonteCarloExact: each framework with an expected result ends with
	// exactly that result, and its pieces' counts add up to it, each piece
	// once. Checked counts the frameworks with an expected result.
	MonteCarloExact Invariant = "MonteCarloExact"
	// AgentResourcesHeld: at no point do the live tasks of an agentID
	// (and their executors, each once) take more of a resource than its
	// agent has. Checked counts the tasks admitted onto an agent.
	AgentResourcesHeld Invariant = "AgentResourcesHeld"
	// NoLostStatusUpdate: every TASK_LOST is explained by its agent's
	// removal or by the agent finding the executor gone, and every task of
	// a framework that ended ended too. Checked counts the TASK_LOST
	// entries and the tasks of ended frameworks judged.
	NoLostStatusUpdate Invariant = "NoLostStatusUpdate"
	// NoWritesWithoutLease: no master pod's write lands while another
	// holds the master Lease, and no master takes the Lease before its
	// holder's last renewal expired. Checked counts the writes judged.
	NoWritesWithoutLease Invariant = "NoWritesWithoutLease"
	// AgentRemovalRate: never more agents marked Unreachable within one
	// removal period than the removal limit. Checked counts the removals.
	AgentRemovalRate Invariant = "AgentRemovalRate"
	// FrameworksReachEnd: every framework the run expected something of
	// ends in the expected phase. Checked counts those frameworks.
	FrameworksReachEnd Invariant = "FrameworksReachEnd"
)

// All lists the invariants in the order of Report.Invariants.
var All = []Invariant{TaskStatesForward, NoRunAfterUnreachable, MonteCarloExact, AgentResourcesHeld,
	NoLostStatusUpdate, NoWritesWithoutLease, AgentRemovalRate, FrameworksReachEnd}

// Limits are the settings of the master that the run used.
type Limits struct {
	// AgentRemovalLimit and AgentRemovalPeriod are the master's
	// --agent-removal-rate-limit: at most AgentRemovalLimit agents marked
	// Unreachable per AgentRemovalPeriod. A limit of zero or less means no
	// bound, as the master reads it.
	AgentRemovalLimit  int
	AgentRemovalPeriod time.Duration
	// LeaseDuration is the master's --leader-election-lease-duration:
	// how long a standby waits after the last renewal it saw. Zero takes
	// the durationSeconds of the record's Lease entries.
	LeaseDuration time.Duration
	// LeaseName is the master Lease's name; kubemesos-master when empty.
	LeaseName string
}

// Campaign are the settings the fault campaign's install (test/e2e) gives
// the master, and by which the check command (test/chaos/check) judges a
// record unless told otherwise: one home for both.
var Campaign = Limits{AgentRemovalLimit: 10, AgentRemovalPeriod: time.Minute, LeaseDuration: 4 * time.Second, LeaseName: kmv1.MasterLeaseName}

// Violation is one breach of an invariant.
type Violation struct {
	Invariant Invariant
	// At is when it happened, or when the recorder saw it.
	At time.Time
	// Subject names what broke it: "task ns/name (uid)", "agent n1",
	// "framework ns/name", "pod master-0".
	Subject string
	Message string
}

// Result is what one invariant checked and found.
type Result struct {
	Invariant  Invariant
	Checked    int
	Violations int
}

// FaultCount is how many faults of one kind the run applied, and how many
// more it tried but could not apply (their entry has an Error). A failed
// fault is reported, not a violation.
type FaultCount struct {
	Kind    string
	Applied int
	Failed  int
}

// Report is the verdict on one record.
type Report struct {
	// Tasks, AgentIDs and Frameworks count the distinct objects in the
	// record (a task re-created under its name is a new task); Agents the
	// Agent objects (nodes). Transitions counts the task state changes
	// seen, a task's first state included. Writes counts the audit log's
	// master writes, LeaseTakeovers the times the Lease passed from one
	// master pod to another.
	Tasks, Transitions, Agents, AgentIDs, Frameworks, Writes, LeaseTakeovers int
	// OrderedBy is how the entries were ordered: "resourceVersion" or
	// "time seen" (see the package comment).
	OrderedBy string
	// Invariants has one Result per invariant, in the order of All.
	Invariants []Result
	// Violations are every breach found, by invariant, then time.
	Violations []Violation
	// Faults counts the faults by kind, sorted by kind.
	Faults []FaultCount
	// Notes are what the checker could not judge, for people to read.
	Notes []string
}

// Clean reports whether the record breaks no invariant.
func (r Report) Clean() bool { return len(r.Violations) == 0 }

// Check judges a run's record and the master's writes from the audit log
// against every invariant.
func Check(entries []record.Entry, writes []record.Write, limits Limits) Report {
	if limits.LeaseName == "" {
		limits.LeaseName = kmv1.MasterLeaseName
	}
	h := newHistory(entries)
	r := Report{
		Tasks:       len(h.taskKeys),
		Transitions: h.transitions(),
		Agents:      h.agentNames(),
		AgentIDs:    h.agentIDs(),
		Frameworks:  len(h.frameworks),
		Writes:      len(writes),
		OrderedBy:   h.orderName(),
	}
	checks := []struct {
		inv Invariant
		run func() (int, []Violation)
	}{
		{TaskStatesForward, func() (int, []Violation) { return checkTaskStates(h) }},
		{NoRunAfterUnreachable, func() (int, []Violation) { return checkNoRunAfterUnreachable(h) }},
		{MonteCarloExact, func() (int, []Violation) { return checkMonteCarloExact(h, &r.Notes) }},
		{AgentResourcesHeld, func() (int, []Violation) { return checkAgentResources(h, &r.Notes) }},
		{NoLostStatusUpdate, func() (int, []Violation) { return checkStatusUpdates(h) }},
		{NoWritesWithoutLease, func() (int, []Violation) {
			n, vs, takeovers := checkLeaseWrites(h, writes, limits, &r.Notes)
			r.LeaseTakeovers = takeovers
			return n, vs
		}},
		{AgentRemovalRate, func() (int, []Violation) { return checkRemovalRate(h, limits, &r.Notes) }},
		{FrameworksReachEnd, func() (int, []Violation) { return checkFrameworksEnd(h) }},
	}
	for _, c := range checks {
		n, vs := c.run()
		for i := range vs {
			vs[i].Invariant = c.inv
		}
		sort.SliceStable(vs, func(i, j int) bool { return vs[i].At.Before(vs[j].At) })
		r.Invariants = append(r.Invariants, Result{Invariant: c.inv, Checked: n, Violations: len(vs)})
		r.Violations = append(r.Violations, vs...)
	}
	r.Faults = countFaults(entries)
	return r
}

// countFaults counts the Fault entries by kind.
func countFaults(entries []record.Entry) []FaultCount {
	by := map[string]*FaultCount{}
	for _, e := range entries {
		if e.Kind != record.KindFault || e.Fault == nil {
			continue
		}
		c := by[e.Fault.Kind]
		if c == nil {
			c = &FaultCount{Kind: e.Fault.Kind}
			by[e.Fault.Kind] = c
		}
		if e.Fault.Error != "" {
			c.Failed++
		} else {
			c.Applied++
		}
	}
	out := make([]FaultCount, 0, len(by))
	for _, c := range by {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}
