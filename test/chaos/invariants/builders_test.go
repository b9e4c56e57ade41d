package invariants

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/test/chaos/record"
)

// sec is a second, to write times in tests short.
const sec = time.Second

// t0 is when every crafted record starts.
var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// rec builds a record line by line: each object entry gets the next
// resourceVersion and is seen one second after the one before.
type rec struct {
	entries []record.Entry
	rv      uint64
	at      time.Time
}

func newRec() *rec { return &rec{rv: 100, at: t0} }

func (r *rec) next() (string, time.Time) {
	r.rv++
	r.at = r.at.Add(time.Second)
	return strconv.FormatUint(r.rv, 10), r.at
}

// resources reads "cpu=1", "memory=128Mi" pairs.
func resources(kv ...string) map[string]string {
	if len(kv) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		m[k] = v
	}
	return m
}

// agent adds an Agent entry.
func (r *rec) agent(name, id, phase string, total ...string) *rec {
	rv, at := r.next()
	r.entries = append(r.entries, record.Entry{At: at, Kind: record.KindAgent, Type: record.Modified, Name: name, ResourceVersion: rv,
		UID: "agent-" + name, Agent: &record.Agent{Phase: phase, AgentID: id, Total: resources(total...)}})
	return r
}

// unreachable adds an Agent entry marking it Unreachable at the master's
// time when (zero: none recorded).
func (r *rec) unreachable(name, id string, when time.Time) *rec {
	r.agent(name, id, "Unreachable")
	if !when.IsZero() {
		r.last().Agent.UnreachableTime = &when
	}
	return r
}

func (r *rec) last() *record.Entry { return &r.entries[len(r.entries)-1] }

// gone makes the last entry a deletion: the watch's DELETED, with the
// object's last state.
func (r *rec) gone() *rec {
	r.last().Type = record.Deleted
	return r
}

// taskOpt changes a Task entry.
type taskOpt func(*record.Entry)

func res(kv ...string) taskOpt { return func(e *record.Entry) { e.Task.Resources = resources(kv...) } }
func data(d string) taskOpt    { return func(e *record.Entry) { e.Task.Data = d } }
func from(source, reason string) taskOpt {
	return func(e *record.Entry) { e.Task.Source, e.Task.Reason = source, reason }
}
func executor(id string, kv ...string) taskOpt {
	return func(e *record.Entry) { e.Task.Executor, e.Task.ExecutorResources = id, resources(kv...) }
}
func named(name string) taskOpt     { return func(e *record.Entry) { e.Name = name } }
func framework(fw string) taskOpt   { return func(e *record.Entry) { e.Task.Framework = fw } }
func deleted() taskOpt              { return func(e *record.Entry) { e.Type = record.Deleted } }
func rv(v string) taskOpt           { return func(e *record.Entry) { e.ResourceVersion = v } }
func seenAt(at time.Time) taskOpt   { return func(e *record.Entry) { e.At = at } }
func withUID(uid string) taskOpt    { return func(e *record.Entry) { e.UID = uid } }
func inNamespace(ns string) taskOpt { return func(e *record.Entry) { e.Namespace = ns } }

// task adds a Task entry of framework mc in namespace ns, named as its uid
// unless named says otherwise.
func (r *rec) task(uid, state, agentID string, opts ...taskOpt) *rec {
	rv, at := r.next()
	e := record.Entry{At: at, Kind: record.KindTask, Type: record.Modified, Namespace: "ns", Name: uid, ResourceVersion: rv, UID: uid,
		Task: &record.Task{Framework: "mc", State: state, AgentID: agentID}}
	for _, o := range opts {
		o(&e)
	}
	r.entries = append(r.entries, e)
	return r
}

// framework adds a Framework entry of ns/name.
func (r *rec) framework(name, phase, result string) *rec {
	rv, at := r.next()
	r.entries = append(r.entries, record.Entry{At: at, Kind: record.KindFramework, Type: record.Modified, Namespace: "ns", Name: name,
		ResourceVersion: rv, UID: "fw-" + name, Framework: &record.Framework{Phase: phase, Result: result}})
	return r
}

// expect adds what the run expects of framework ns/name.
func (r *rec) expect(name, phase, result string) *rec {
	r.entries = append(r.entries, record.Entry{At: r.at, Kind: record.KindExpect, Namespace: "ns", Name: name,
		Expect: &record.Expect{Phase: phase, Result: result}})
	return r
}

// lease adds a master Lease entry held by holder.
func (r *rec) lease(holder string) *rec {
	rv, at := r.next()
	r.entries = append(r.entries, record.Entry{At: at, Kind: record.KindLease, Type: record.Modified, Namespace: "kubemesos-system",
		Name: "kubemesos-master", ResourceVersion: rv, Lease: &record.Lease{Holder: holder, Duration: 15}})
	return r
}

// fault adds a Fault entry.
func (r *rec) fault(kind, err string) *rec {
	r.entries = append(r.entries, record.Entry{At: r.at, Kind: record.KindFault, Fault: &record.Fault{Kind: kind, Target: "x", Error: err}})
	return r
}

// check runs Check with a removal limit of 2 per minute and a 15s Lease.
func (r *rec) check(writes ...record.Write) Report {
	return Check(r.entries, writes, Limits{AgentRemovalLimit: 2, AgentRemovalPeriod: time.Minute, LeaseDuration: 15 * time.Second})
}

// of returns the violations of inv in rep.
func of(rep Report, inv Invariant) []Violation {
	var out []Violation
	for _, v := range rep.Violations {
		if v.Invariant == inv {
			out = append(out, v)
		}
	}
	return out
}

// result returns inv's Result in rep.
func result(t *testing.T, rep Report, inv Invariant) Result {
	t.Helper()
	for _, r := range rep.Invariants {
		if r.Invariant == inv {
			return r
		}
	}
	t.Fatalf("the report has no result for %s", inv)
	return Result{}
}

// expectViolations fails t unless rep has exactly want violations of inv,
// each message containing the matching substring of contains.
func expectViolations(t *testing.T, rep Report, inv Invariant, want int, contains ...string) {
	t.Helper()
	vs := of(rep, inv)
	if len(vs) != want {
		t.Fatalf("%s: %d violations, want %d:\n%s", inv, len(vs), want, rep.Table())
	}
	if res := result(t, rep, inv); res.Violations != want {
		t.Errorf("%s: the result counts %d violations, the list has %d", inv, res.Violations, want)
	}
	for i, s := range contains {
		if i < len(vs) && !strings.Contains(vs[i].Message, s) {
			t.Errorf("%s: violation %d says %q, want it to mention %q", inv, i, vs[i].Message, s)
		}
	}
}

// write is one master write in the audit log, received at t0+recv and
// answered 10ms later.
func write(pod, verb, resource, name string, code int32, recv time.Duration) record.Write {
	return record.Write{Pod: pod, Verb: verb, Resource: resource, Namespace: "ns", Name: name, Code: code,
		Received: t0.Add(recv), Answered: t0.Add(recv + 10*time.Millisecond)}
}

// renew is a write of the master Lease.
func renew(pod string, code int32, recv time.Duration) record.Write {
	w := write(pod, "update", "leases", "kubemesos-master", code, recv)
	w.Namespace = "kubemesos-system"
	return w
}
