package scale

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubemesos/kubemesos/agent"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/portrange"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// The writers that the suite tells apart in the audit log, by user agent.
const (
	WriterMaster        = "kubemesos master"
	WriterAgent         = "kubemesos agents"
	WriterFramework     = "framework (scheduler SDK)"
	WriterKwok          = "kwok (the kubelets)"
	WriterKubeScheduler = "kube-scheduler"
	WriterHarness       = "harness"
	WriterAPIServer     = "kube-apiserver"
	WriterOther         = "other"
)

// KubemesosWriters are the writers that are kubemesos: the master, the
// agents and the scheduler SDK in the framework.
var KubemesosWriters = []string{WriterMaster, WriterAgent, WriterFramework}

// writerOf names the writer of a request by its user agent.
func writerOf(userAgent string) string {
	switch {
	case strings.HasPrefix(userAgent, userAgentMaster):
		return WriterMaster
	case strings.HasPrefix(userAgent, userAgentAgent):
		return WriterAgent
	case strings.HasPrefix(userAgent, userAgentScheduler):
		return WriterFramework
	case strings.HasPrefix(userAgent, userAgentHarness):
		return WriterHarness
	case strings.HasPrefix(userAgent, "kwok"):
		return WriterKwok
	case strings.HasPrefix(userAgent, "kube-scheduler"):
		return WriterKubeScheduler
	case strings.HasPrefix(userAgent, "kube-apiserver"):
		return WriterAPIServer
	}
	return WriterOther
}

// Writes are the writes of one period: as apiserver_request_total counted
// them, and as the audit log recorded them, by writer.
type Writes struct {
	// Counted are the writes that the API server's request counters
	// counted (testenv.IsWrite), 404s and conflicts included.
	Counted testenv.Requests
	// ByWriter are the writes of the audit log, by writer (Writer...),
	// Leases' excepted (the audit policy leaves them out).
	ByWriter map[string]testenv.Requests
	// Stats say where the period's time went.
	Stats *Stats
}

// Total sums the counted writes that match (all when match is nil).
func (w *Writes) Total(match func(testenv.Request) bool) float64 {
	return w.Counted.Count(func(r testenv.Request) bool { return match == nil || match(r) })
}

// Of sums the audited writes of the writers that match.
func (w *Writes) Of(writers []string, match func(testenv.Request) bool) float64 {
	var n float64
	for _, wr := range writers {
		n += w.ByWriter[wr].Count(func(r testenv.Request) bool { return match == nil || match(r) })
	}
	return n
}

// Audited sums every audited write.
func (w *Writes) Audited() float64 {
	var n float64
	for _, r := range w.ByWriter {
		n += r.Count(func(testenv.Request) bool { return true })
	}
	return n
}

// IsLease matches the heartbeat and leader Leases' writes.
func IsLease(r testenv.Request) bool { return r.Resource == "leases" }

// NotLease matches every write but the Leases'.
func NotLease(r testenv.Request) bool { return !IsLease(r) }

// mark is a point in time in the API server's record.
type mark struct {
	counters testenv.Requests
	audit    int64
	stats    *Stats
	at       time.Time
}

// mark reads the request counters, the audit log's size and the timings.
func (c *Cluster) mark(ctx context.Context) (mark, error) {
	r, err := testenv.ReadRequests(ctx, c.admin)
	if err != nil {
		return mark{}, err
	}
	st, err := os.Stat(c.audit.path)
	if err != nil {
		return mark{}, fmt.Errorf("reading the audit log: %w", err)
	}
	stats, err := c.readStats(ctx)
	if err != nil {
		return mark{}, err
	}
	return mark{counters: r, audit: st.Size(), stats: stats, at: time.Now()}, nil
}

// writesBetween are the writes from a to b.
func (c *Cluster) writesBetween(a, b mark) (*Writes, error) {
	w := &Writes{Counted: testenv.Requests{}, Stats: b.stats.since(a.stats)}
	for r, n := range b.counters.Since(a.counters) {
		if testenv.IsWrite(r) {
			w.Counted[r] = n
		}
	}
	var err error
	if w.ByWriter, err = c.audit.read(a.audit, b.audit); err != nil {
		return nil, err
	}
	return w, nil
}

// settle waits until the cluster has written nothing but Leases for
// quiet and every agent has caught up with its node (agentsCaughtUp): what
// a run set in motion has ended. It reads the API server's counters once a
// second.
func (c *Cluster) settle(ctx context.Context, quiet time.Duration) error {
	last, err := testenv.ReadRequests(ctx, c.admin)
	if err != nil {
		return err
	}
	since, deadline := time.Now(), time.Now().Add(c.cfg.Timeout)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		now, err := testenv.ReadRequests(ctx, c.admin)
		if err != nil {
			return err
		}
		if now.Since(last).Count(func(r testenv.Request) bool { return testenv.IsWrite(r) && NotLease(r) }) > 0 {
			last, since = now, time.Now()
		}
		if time.Since(since) >= quiet {
			caughtUp, err := c.agentsCaughtUp(ctx)
			if err != nil {
				return err
			}
			if caughtUp {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errTimeout
		}
	}
}

// agentsCaughtUp reports whether every Agent offers the cpu and memory
// that its node has free of other pods (agent.OfferableResources). An
// agent writes what the other pods of its node gave back only
// --resource-growth-delay after its last write (Config.ResourceGrowthDelay):
// the plain pods' run is not over until it has, nor is the cluster idle.
func (c *Cluster) agentsCaughtUp(ctx context.Context) (bool, error) {
	var agents kmv1.AgentList
	if err := c.client.List(ctx, &agents); err != nil {
		return false, fmt.Errorf("listing the Agents: %w", err)
	}
	var nodes corev1.NodeList
	if err := c.client.List(ctx, &nodes); err != nil {
		return false, fmt.Errorf("listing the nodes: %w", err)
	}
	var pods corev1.PodList
	if err := c.client.List(ctx, &pods); err != nil {
		return false, fmt.Errorf("listing the pods: %w", err)
	}
	onNode := map[string][]corev1.Pod{}
	for _, p := range pods.Items {
		onNode[p.Spec.NodeName] = append(onNode[p.Spec.NodeName], p)
	}
	byName := map[string]*corev1.Node{}
	for i := range nodes.Items {
		byName[nodes.Items[i].Name] = &nodes.Items[i]
	}
	for _, a := range agents.Items {
		n, ok := byName[a.Spec.NodeName]
		if !ok {
			continue
		}
		free := agent.OfferableResources(n, onNode[n.Name], portrange.Set{})
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if want, got := free[r], a.Spec.Resources[r]; want.Cmp(got) != 0 {
				return false, nil
			}
		}
	}
	return true, nil
}

// Idle is what an idle cluster wrote over a period.
type Idle struct {
	// Nodes is the cluster's size.
	Nodes int
	// Period is how long it was watched.
	Period time.Duration
	// Writes are its writes.
	Writes *Writes
}

// IdleCheck watches the cluster, with no framework running, for period:
// it should write nothing but heartbeat Leases.
func (c *Cluster) IdleCheck(ctx context.Context, period time.Duration) (*Idle, error) {
	if err := c.settle(ctx, 3*time.Second); err != nil {
		return nil, fmt.Errorf("waiting for the cluster to settle: %w", err)
	}
	a, err := c.mark(ctx)
	if err != nil {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(period):
	}
	b, err := c.mark(ctx)
	if err != nil {
		return nil, err
	}
	w, err := c.writesBetween(a, b)
	if err != nil {
		return nil, err
	}
	return &Idle{Nodes: c.Nodes(), Period: b.at.Sub(a.at), Writes: w}, nil
}

// auditLog is the API server's audit log, which records every write
// (auditPolicy) with the writer's user agent.
type auditLog struct{ path string }

// auditEvent is what the suite reads of an audit event.
type auditEvent struct {
	Verb      string `json:"verb"`
	UserAgent string `json:"userAgent"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		APIGroup    string `json:"apiGroup"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

// auditVerbs maps the audit log's verbs to apiserver_request_total's.
// Server-side apply is a patch in the audit log, APPLY in the counters.
var auditVerbs = map[string]string{
	"create": "POST", "update": "PUT", "patch": "PATCH", "delete": "DELETE", "deletecollection": "DELETECOLLECTION",
}

// read returns the writes logged between two offsets of the log, by
// writer, as testenv.IsWrite counts them (reviews are not writes).
func (a *auditLog) read(from, to int64) (map[string]testenv.Requests, error) {
	f, err := os.Open(a.path)
	if err != nil {
		return nil, fmt.Errorf("opening the audit log: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return nil, fmt.Errorf("reading the audit log: %w", err)
	}
	out := map[string]testenv.Requests{}
	sc := bufio.NewScanner(io.LimitReader(f, to-from))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var ev auditEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("parsing the audit log: %w", err)
		}
		verb, ok := auditVerbs[ev.Verb]
		if !ok || ev.ObjectRef == nil {
			continue
		}
		r := testenv.Request{Verb: verb, Group: ev.ObjectRef.APIGroup, Resource: ev.ObjectRef.Resource, Subresource: ev.ObjectRef.Subresource}
		if ev.ResponseStatus != nil {
			r.Code = strconv.Itoa(ev.ResponseStatus.Code)
		}
		if !testenv.IsWrite(r) {
			continue
		}
		w := writerOf(ev.UserAgent)
		if out[w] == nil {
			out[w] = testenv.Requests{}
		}
		out[w][r]++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the audit log: %w", err)
	}
	return out, nil
}
