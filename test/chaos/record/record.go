// Package record is the fault campaign's record: what happened during a
// run, written as it happens and read back by the invariant checker
// (test/chaos/invariants). A record is a sequence of Entries, one JSON
// object per line, in the order the recorder saw them:
//
//   - every change of every Task, Agent and Framework, and of the master
//     Lease, from watches started before the workload (Kind Task, Agent,
//     Framework, Lease), with the API server's resourceVersion;
//   - every fault the injector applied, when it started and when it was
//     undone (Kind Fault);
//   - the frameworks' results and what the run expected of them (Kind
//     Expect).
//
// The master's writes come from the API server's own audit log, read
// after the run (Writes), not from the record.
package record

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Kinds of entries.
const (
	KindTask      = "Task"
	KindAgent     = "Agent"
	KindFramework = "Framework"
	KindLease     = "Lease"
	KindFault     = "Fault"
	KindExpect    = "Expect"
)

// Event types of object entries, as the watch gave them.
const (
	Added    = "ADDED"
	Modified = "MODIFIED"
	Deleted  = "DELETED"
)

// Entry is one line of a record. Which fields are set depends on Kind.
type Entry struct {
	// At is when the recorder saw it (for object entries), or when the
	// fault started (Fault).
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
	// Type is the watch event's type (object entries).
	Type            string `json:"type,omitempty"`
	Namespace       string `json:"namespace,omitempty"`
	Name            string `json:"name,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	UID             string `json:"uid,omitempty"`

	Task      *Task      `json:"task,omitempty"`
	Agent     *Agent     `json:"agent,omitempty"`
	Framework *Framework `json:"framework,omitempty"`
	Lease     *Lease     `json:"lease,omitempty"`
	Fault     *Fault     `json:"fault,omitempty"`
	Expect    *Expect    `json:"expect,omitempty"`
}

// Task is what the checker needs of a Task.
type Task struct {
	Framework string `json:"framework"`
	// State is status.state, empty before admission.
	State  string `json:"state,omitempty"`
	Reason string `json:"reason,omitempty"`
	Source string `json:"source,omitempty"`
	// AgentID is the agent the task is placed on: status.agentID, else
	// spec.agentID (the Task's PlacedOn).
	AgentID string `json:"agentID,omitempty"`
	// Resources are spec.resources in Kubernetes quantities, and
	// ExecutorResources those of its executor when it has one.
	Resources map[string]string `json:"resources,omitempty"`
	// Executor is spec.executor.executorID, empty for a command task.
	Executor          string            `json:"executor,omitempty"`
	ExecutorResources map[string]string `json:"executorResources,omitempty"`
	// Data is status.data: a MonteCarloArea piece's result.
	Data string `json:"data,omitempty"`
}

// Agent is what the checker needs of an Agent.
type Agent struct {
	Phase   string `json:"phase,omitempty"`
	AgentID string `json:"agentID,omitempty"`
	// Total is spec.resources.
	Total map[string]string `json:"total,omitempty"`
	// UnreachableTime is status.unreachableTime: when the master last
	// marked the agent Unreachable or Gone, by the master's clock. It
	// times a removal even when the recorder saw it late (its watch was
	// cut while the API server was down).
	UnreachableTime *time.Time `json:"unreachableTime,omitempty"`
}

// Framework is what the checker needs of a Framework.
type Framework struct {
	Phase   string `json:"phase,omitempty"`
	Result  string `json:"result,omitempty"`
	Message string `json:"message,omitempty"`
}

// Lease is the master Lease's holder.
type Lease struct {
	Holder      string     `json:"holder,omitempty"`
	RenewTime   *time.Time `json:"renewTime,omitempty"`
	Duration    int32      `json:"durationSeconds,omitempty"`
	Transitions int32      `json:"transitions,omitempty"`
}

// Fault kinds.
const (
	FaultLeaderKill     = "leader-kill"
	FaultLeaderPause    = "leader-pause"
	FaultAgentRestart   = "agent-restart"
	FaultAgentPause     = "agent-pause"
	FaultExecutorCrash  = "executor-crash"
	FaultSchedulerKill  = "scheduler-kill"
	FaultSchedulerPause = "scheduler-pause"
	FaultAPIServerStop  = "apiserver-restart"
	FaultEtcdStall      = "etcd-stall"
	FaultEtcdSlowDisk   = "etcd-slow-disk"
	FaultNodePartition  = "node-partition"
)

// Fault is one fault the injector applied.
type Fault struct {
	Kind string `json:"kind"`
	// Target names what it hit: a pod, a node, a process.
	Target string `json:"target"`
	// Undone is when the injector undid it (resumed, healed, restarted):
	// the start of recovery; for a kill, which nothing undoes, when it was
	// applied.
	Undone time.Time `json:"undone,omitempty"`
	// Recovered is when the injector saw the system whole again (every
	// agent Active, a leader making offers), zero if it never did.
	Recovered time.Time `json:"recovered,omitempty"`
	// Error is why the fault could not be applied, if it could not.
	Error string `json:"error,omitempty"`
	// Stuck is why the system did not recover from a fault that was
	// applied and undone (a paused leader that did not exit, or what was
	// still broken when the injector stopped waiting), if it did not;
	// Recovered is zero then.
	Stuck string `json:"stuck,omitempty"`
}

// Expect is a framework's expected end: its phase and, for a
// MonteCarloArea run, the exact result.
type Expect struct {
	Phase  string `json:"phase"`
	Result string `json:"result,omitempty"`
}

// Writer appends entries to a record.
type Writer struct {
	enc *json.Encoder
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{enc: json.NewEncoder(w)} }

// Write appends e.
func (w *Writer) Write(e Entry) error {
	if err := w.enc.Encode(e); err != nil {
		return fmt.Errorf("writing a record entry: %w", err)
	}
	return nil
}

// Read reads a whole record.
func Read(r io.Reader) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for n := 1; sc.Scan(); n++ {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("record line %d: %w", n, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the record: %w", err)
	}
	return out, nil
}

// Write is one write of a master replica, from the API server's audit
// log.
type Write struct {
	// Pod is the master pod whose token made it.
	Pod  string `json:"pod"`
	Verb string `json:"verb"`
	// Resource is the audit event's objectRef resource, followed by
	// "/" and its subresource when it has one ("tasks/status").
	Resource  string `json:"resource"`
	Namespace string `json:"namespace,omitempty"`
	// Name is the object's name; empty for a create, whose URL names none.
	Name string `json:"name,omitempty"`
	// Code is the answer's HTTP status.
	Code     int32     `json:"code"`
	Received time.Time `json:"received"`
	Answered time.Time `json:"answered"`
	// ResourceVersion is the object's resourceVersion in the answer (the
	// write's place in etcd's order), when the audit log holds the answer.
	ResourceVersion string `json:"resourceVersion,omitempty"`
}
