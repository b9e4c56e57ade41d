package controllers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/internal/leader"
)

// registryWatch records every task and agent transition the API server
// publishes and checks the registry's promises on each one.
type registryWatch struct {
	mu         sync.Mutex
	violations []string
	tasks      map[string]kmv1.Task
	capacity   map[string]resource.Quantity // cpu by agentID
	unreach    []string
}

func watchRegistry(t *testing.T, ns string, capacity map[string]resource.Quantity) *registryWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	tw, err := wc.Watch(ctx, &kmv1.TaskList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	aw, err := wc.Watch(ctx, &kmv1.AgentList{})
	if err != nil {
		t.Fatal(err)
	}
	rw := &registryWatch{tasks: map[string]kmv1.Task{}, capacity: capacity}
	go func() {
		for ev := range tw.ResultChan() {
			if task, ok := ev.Object.(*kmv1.Task); ok && ev.Type != watch.Deleted {
				rw.task(task)
			}
		}
	}()
	go func() {
		for ev := range aw.ResultChan() {
			if a, ok := ev.Object.(*kmv1.Agent); ok && a.Status.Phase == kmv1.AgentUnreachable {
				rw.mu.Lock()
				rw.unreach = append(rw.unreach, a.Name)
				rw.mu.Unlock()
			}
		}
	}()
	return rw
}

func (rw *registryWatch) task(tk *kmv1.Task) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	prev, seen := rw.tasks[tk.Name]
	if seen && tk.Status.State.Rank() < prev.Status.State.Rank() {
		rw.violations = append(rw.violations, fmt.Sprintf("task %s went back from %s to %s", tk.Name, prev.Status.State, tk.Status.State))
	}
	if seen && prev.Status.State.IsTerminal() && tk.Status.State != prev.Status.State {
		rw.violations = append(rw.violations, fmt.Sprintf("terminal task %s changed from %s to %s", tk.Name, prev.Status.State, tk.Status.State))
	}
	rw.tasks[tk.Name] = *tk.DeepCopy()
	used := map[string]*resource.Quantity{}
	for _, x := range rw.tasks {
		if x.Status.State == "" || x.Status.State.IsTerminal() {
			continue
		}
		if used[x.Status.AgentID] == nil {
			used[x.Status.AgentID] = &resource.Quantity{}
		}
		used[x.Status.AgentID].Add(x.Spec.Resources["cpu"])
	}
	for agent, u := range used {
		if c, ok := rw.capacity[agent]; ok && u.Cmp(c) > 0 {
			rw.violations = append(rw.violations, fmt.Sprintf("agent %s has %s cpu of live tasks but only %s: an offer was used twice", agent, u.String(), c.String()))
		}
	}
}

// workload is a scheduler that launches a 500m task on every offer it sees
// and an agent that runs each staged task and finishes it, in ns, until
// stop is called or the test ends.
type workload struct {
	launched, finished atomic.Int64
	stop               func()
}

func runWorkload(t *testing.T, ns, fw string) *workload {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w := &workload{stop: cancel}
	go func() {
		seq := 0
		for ctx.Err() == nil {
			var offers kmv1.OfferList
			_ = env.Client.List(ctx, &offers, client.InNamespace(ns))
			for _, of := range offers.Items {
				if of.DeletionTimestamp != nil {
					continue
				}
				seq++
				tk := b.MakeTask(fmt.Sprintf("ft-%03d", seq), ns).Framework(fw).Offer(of.Name).Resources("cpu", "500m").Command("busybox").Obj()
				if env.Client.Create(ctx, tk) == nil {
					w.launched.Add(1)
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	go func() {
		for ctx.Err() == nil {
			var tasks kmv1.TaskList
			_ = env.Client.List(ctx, &tasks, client.InNamespace(ns))
			for i := range tasks.Items {
				tk := &tasks.Items[i]
				next := kmv1.TaskState("")
				switch tk.Status.State {
				case kmv1.TaskStaging:
					next = kmv1.TaskRunning
				case kmv1.TaskRunning:
					next = kmv1.TaskFinished
				}
				if next == "" {
					continue
				}
				patch := client.MergeFromWithOptions(tk.DeepCopy(), client.MergeFromWithOptimisticLock{})
				tk.Status.State, tk.Status.Source = next, kmv1.SourceAgent
				if env.Client.Status().Patch(ctx, tk, patch) == nil && next == kmv1.TaskFinished {
					w.finished.Add(1)
				}
			}
			time.Sleep(150 * time.Millisecond)
		}
	}()
	return w
}

// check reports the registry's broken promises and agents wrongly marked
// Unreachable.
func (rw *registryWatch) check(t *testing.T) {
	t.Helper()
	rw.mu.Lock()
	defer rw.mu.Unlock()
	for _, v := range rw.violations {
		t.Error(v)
	}
	if len(rw.unreach) > 0 {
		t.Errorf("agents wrongly marked Unreachable during failover: %v", rw.unreach)
	}
}

// failoverCluster adds two agents and a framework, and watches the
// registry of the framework's namespace.
func failoverCluster(t *testing.T, prefix string) (ns string, rw *registryWatch) {
	t.Helper()
	nodes := []string{prefix + "-1", prefix + "-2"}
	for _, n := range nodes {
		addAgent(t, n, "cpu", "2", "memory", "2Gi")
	}
	_, ns = addFramework(t, b.MakeFramework(prefix+"fw", "").RefuseSeconds(0).Obj())
	capacity := map[string]resource.Quantity{}
	for _, n := range nodes {
		eventually(t, n+" admitted", func() (bool, error) { return getAgent(t, n).Status.AgentID != "", nil })
		capacity[getAgent(t, n).Status.AgentID] = q("2")
	}
	return ns, watchRegistry(t, ns, capacity)
}

// TestMasterFailover runs two masters on one API server and kills the
// leader while a scheduler launches tasks and an agent finishes them. The
// standby takes over; no task state goes backwards, no offer is used twice,
// and no agent is marked Unreachable.
func TestMasterFailover(t *testing.T) {
	o := testOptions()
	o.AgentPingTimeout = 2 * time.Second // well past the leader handover
	leader := startMaster(t, o, true, "master-a")
	eventually(t, "master-a leads", func() (bool, error) { return leaseHolder(t) != "", nil })
	standby := startMaster(t, o, true, "master-b")
	defer standby.stop()
	first := leaseHolder(t)

	ns, rw := failoverCluster(t, "fail")
	w := runWorkload(t, ns, "failfw")
	eventually(t, "tasks finish under the first leader", func() (bool, error) { return w.finished.Load() >= 5, nil })
	// Kill the leader mid-run: it stops without releasing the Lease, as a
	// crashed process would.
	killed := w.finished.Load()
	if first == "" {
		t.Fatal("no leader")
	}
	leader.stop()
	eventually(t, "the standby takes the Lease", func() (bool, error) {
		h := leaseHolder(t)
		return h != "" && h != first, nil
	})
	eventually(t, "tasks keep finishing under the new leader", func() (bool, error) { return w.finished.Load() >= killed+8, nil })
	w.stop()
	time.Sleep(300 * time.Millisecond)
	rw.check(t)
	t.Logf("launched %d tasks, finished %d, %d before the leader was killed", w.launched.Load(), w.finished.Load(), killed)
}

// isMasterLease reports whether req is about the master's Lease.
func isMasterLease(req *http.Request) bool {
	return strings.HasPrefix(req.URL.Path, "/apis/coordination.k8s.io/") &&
		(strings.HasSuffix(req.URL.Path, "/leases/"+kmv1.MasterLeaseName) || strings.HasSuffix(req.URL.Path, "/leases"))
}

func isWrite(req *http.Request) bool {
	return req.Method != http.MethodGet && req.Method != http.MethodHead && req.Method != http.MethodOptions
}

// pausedLeader sits below a master's Guard and sees what it sends. Once
// paused, the master's renewals of its Lease are answered here and never
// reach the API server: the master believes it renews, the others see a
// leader that stopped, as they see a process that is paused. It records
// the writes that reached the API server: how many, when the last came
// back, and the latest etcd revision one was stored at.
type pausedLeader struct {
	paused atomic.Bool
	mu     sync.Mutex
	last   time.Time
	writes int
	// rev is the latest revision a write was stored at; unjudged counts
	// the successful writes whose answer carries none (a delete of a
	// custom resource answers with a Status), and lastUnjudged is when
	// the latest of them came back.
	rev          int64
	unjudged     int
	lastUnjudged time.Time
}

// roundTripperFunc is a RoundTripper made of a function.
type roundTripperFunc func(*http.Request) (*http.Response, error)

// RoundTrip calls f.
func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// wrap is the master's MasterConfig.Transport.
func (p *pausedLeader) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) { return p.roundTrip(rt, req) })
}

func (p *pausedLeader) roundTrip(rt http.RoundTripper, req *http.Request) (*http.Response, error) {
	if p.paused.Load() && isMasterLease(req) && req.Method == http.MethodPut {
		body, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		h := http.Header{}
		h.Set("Content-Type", req.Header.Get("Content-Type"))
		return &http.Response{StatusCode: http.StatusOK, Header: h, Body: io.NopCloser(bytes.NewReader(body)), Request: req}, nil
	}
	resp, err := rt.RoundTrip(req)
	if isWrite(req) {
		rev, stored := storedRevision(resp, err)
		p.mu.Lock()
		p.last, p.writes = time.Now(), p.writes+1
		switch {
		case stored:
			p.rev = max(p.rev, rev)
		case err == nil && resp.StatusCode < 300:
			p.unjudged++
			p.lastUnjudged = p.last
		}
		p.mu.Unlock()
	}
	return resp, err
}

// storedRevision returns the etcd revision a successful write was stored
// at: the resourceVersion of the object in its answer, whose body it puts
// back for the caller. stored is false for a failed write and for an
// answer without an object's resourceVersion (a Status).
func storedRevision(resp *http.Response, err error) (rev int64, stored bool) {
	if err != nil || resp.StatusCode >= 300 || resp.Body == nil {
		return 0, false
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return 0, false
	}
	var rv string
	if strings.Contains(resp.Header.Get("Content-Type"), "protobuf") {
		obj, _, err := clientgoscheme.Codecs.UniversalDeserializer().Decode(body, nil, nil)
		if err != nil {
			return 0, false
		}
		m, err := meta.Accessor(obj)
		if err != nil {
			return 0, false
		}
		rv = m.GetResourceVersion()
	} else {
		var o metav1.PartialObjectMetadata
		if json.Unmarshal(body, &o) != nil {
			return 0, false
		}
		rv = o.ResourceVersion
	}
	rev, err = strconv.ParseInt(rv, 10, 64)
	return rev, err == nil
}

// takeover sits below a standby's Guard and records its first successful
// write of the Lease, its acquisition: when it was sent, and the revision
// it was stored at.
type takeover struct {
	mu   sync.Mutex
	sent time.Time
	rev  int64
}

// wrap is the standby's MasterConfig.Transport.
func (tk *takeover) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := rt.RoundTrip(req)
		tk.record(req, start, resp, err)
		return resp, err
	})
}

func (tk *takeover) record(req *http.Request, start time.Time, resp *http.Response, err error) {
	if !isMasterLease(req) || !isWrite(req) {
		return
	}
	if rev, stored := storedRevision(resp, err); stored {
		tk.mu.Lock()
		if tk.sent.IsZero() {
			tk.sent, tk.rev = start, rev
		}
		tk.mu.Unlock()
	}
}

func (tk *takeover) at() (time.Time, int64) {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	return tk.sent, tk.rev
}

// TestZombieLeaderWritesNothing: the leader is paused past its Lease while
// a scheduler launches tasks and an agent finishes them, and resumes after
// the standby took over, still believing it leads (its renewals seem to
// succeed) with its stale caches. On resuming, its Guard finds
// its clock past the renew deadline and refuses every write it tries;
// nothing it sent was stored after the new leader's acquisition (by the
// etcd revisions in the writes' answers, or, for a delete, whose answer
// names none, by when it came back), and the run under the new leader
// keeps its promises.
func TestZombieLeaderWritesNothing(t *testing.T) {
	o := testOptions()
	o.AgentPingTimeout = 2 * time.Second // well past the leader handover
	clk := clocktesting.NewFakeClock(time.Now())
	zombie := &pausedLeader{}
	// An 8 s Lease (4 s renew deadline): with the tests' 3 s, a busy
	// machine may keep zombie-a from renewing before the pause, and it
	// stops leading before the test pauses it.
	const lease = 8 * time.Second
	old := inprocess.LaunchMaster(t, env.Config, inprocess.MasterConfig{Options: o, LeaderElect: true, LeaseDuration: lease, ID: "zombie-a",
		GuardClock: clk, Zombie: true, Transport: zombie.wrap})
	eventually(t, "zombie-a leads", func() (bool, error) { return leaseHolder(t) == old.Identity, nil })
	heir := &takeover{}
	standby := inprocess.LaunchMaster(t, env.Config, inprocess.MasterConfig{Options: o, LeaderElect: true, LeaseDuration: lease, ID: "zombie-b",
		Transport: heir.wrap})

	ns, rw := failoverCluster(t, "zomb")
	w := runWorkload(t, ns, "zombfw")
	eventually(t, "tasks finish under the first leader", func() (bool, error) { return w.finished.Load() >= 5, nil })
	paused := w.finished.Load()
	// The pause: no renewal reaches the API server any more, and the
	// leader's monotonic clock jumps by the pause's length when it resumes.
	zombie.paused.Store(true)
	clk.Step(time.Minute)
	eventually(t, "zombie-a's guard trips", func() (bool, error) {
		select {
		case <-old.Guard.Lost():
			return true, nil
		default:
			return false, nil
		}
	})
	eventually(t, "zombie-b takes the Lease", func() (bool, error) { return leaseHolder(t) == standby.Identity, nil })
	eventually(t, "tasks keep finishing under the new leader", func() (bool, error) { return w.finished.Load() >= paused+8, nil })
	// The zombie still runs its controllers on what it last saw; the
	// tasks finishing under the new leader give it work to try.
	eventually(t, "the zombie tries to write", func() (bool, error) { return old.Guard.Refused() > 0, nil })
	if err := old.Client.Delete(context.Background(), &kmv1.Offer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "any"}}); !errors.Is(err, leader.ErrNotLeading) {
		t.Errorf("a write of the zombie: %v, want ErrNotLeading", err)
	}
	w.stop()
	old.Stop()

	zombie.mu.Lock()
	last, writes, rev, unjudged, lastUnjudged := zombie.last, zombie.writes, zombie.rev, zombie.unjudged, zombie.lastUnjudged
	zombie.mu.Unlock()
	took, tookRev := heir.at()
	if rev == 0 || tookRev == 0 {
		t.Fatalf("the old leader's writes were stored up to revision %d, the new one's acquisition at %d", rev, tookRev)
	}
	// etcd orders every write: judged by the revisions they were stored
	// at, not by when their answers came back (a busy machine delays
	// those), nothing of the old leader's was stored after the takeover.
	if rev >= tookRev {
		t.Errorf("the old leader's last write was stored at revision %d, after the new leader's acquisition at %d", rev, tookRev)
	}
	// A write whose answer names no revision can only be judged by when
	// it came back: before the new leader sent its acquisition.
	if unjudged > 0 && !lastUnjudged.Before(took) {
		t.Errorf("the old leader's last write answered without a revision came back %s after the new leader sent its acquisition", lastUnjudged.Sub(took))
	}
	rw.check(t)
	t.Logf("launched %d tasks, finished %d, %d before the pause; the old leader made %d writes (%d answered without a revision), the last stored at revision %d and back %s before the takeover (revision %d), and %d were refused",
		w.launched.Load(), w.finished.Load(), paused, writes, unjudged, rev, took.Sub(last), tookRev, old.Guard.Refused())
}

func leaseHolder(t *testing.T) string {
	t.Helper()
	var l coordinationv1.Lease
	if err := env.Client.Get(context.Background(), keyOf(systemNS, kmv1.MasterLeaseName), &l); err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// TestNewLeaderHonoursStagedTasks: the old leader staged a task on an offer
// and died before consuming it. A new leader must count that task against
// the offer before it admits anything else on it.
func TestNewLeaderHonoursStagedTasks(t *testing.T) {
	ctx := context.Background()
	old := startMaster(t, testOptions(), false, "old")
	addAgent(t, "heir-1", "cpu", "2", "memory", "2Gi")
	_, ns := addFramework(t, b.MakeFramework("heirfw", "").Obj())
	offer := waitOffer(t, ns, "heirfw")
	old.stop()

	// What the old leader wrote just before it died.
	a := b.MakeTask("staged-before", ns).Framework("heirfw").Offer(offer.Name).Resources("cpu", "2", "memory", "2Gi").Command("busybox").Obj()
	if err := env.Client.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	a.Status = kmv1.TaskStatus{State: kmv1.TaskStaging, Source: kmv1.SourceMaster, AgentID: offer.Spec.AgentID, NodeName: "heir-1"}
	if err := env.Client.Status().Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	second := b.MakeTask("after-failover", ns).Framework("heirfw").Offer(offer.Name).Resources("cpu", "2", "memory", "2Gi").Command("busybox").Obj()
	if err := env.Client.Create(ctx, second); err != nil {
		t.Fatal(err)
	}
	startMaster(t, testOptions(), false, "new")
	eventually(t, "the second task is refused", func() (bool, error) {
		s := getTask(t, ns, "after-failover").Status.State
		return s == kmv1.TaskError || s == kmv1.TaskDropped, nil
	})
	if s := getTask(t, ns, "after-failover").Status.State; s == kmv1.TaskStaging {
		t.Fatal("the new leader used the offer twice")
	}
}
