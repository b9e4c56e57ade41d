//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/test/chaos/invariants"
	"github.com/kubemesos/kubemesos/test/chaos/record"
)

// masterUser is the master's ServiceAccount, whose writes the local
// cluster's audit policy records.
const masterUser = "system:serviceaccount:" + systemNS + ":kubemesos-master"

// podNameKey is the user extra that names the pod a bound token belongs to.
const podNameKey = "authentication.kubernetes.io/pod-name"

// masterWrite is one write of a master replica, from the audit log.
type masterWrite struct {
	line     int
	pod      string
	verb     string
	resource string // resource[/subresource] namespace/name
	// res is resource[/subresource], ns and name the object's.
	res, ns, name string
	lease         bool // a write of the Lease kubemesos-master
	code          int32
	received      time.Time
	answered      time.Time
	// rv is the resourceVersion of the object in the answer, when the
	// answer holds one (the audit policy records the master's answers).
	rv string
}

func (w masterWrite) String() string {
	return fmt.Sprintf("line %d: %s %s %s -> %d (received %s, answered %s)", w.line, w.pod, w.verb, w.resource, w.code,
		w.received.Format(time.RFC3339Nano), w.answered.Format(time.RFC3339Nano))
}

// masterWrites reads the local cluster's audit log (beside the kubeconfig):
// every write of the master's ServiceAccount, in the order the API server
// answered them.
func masterWrites(t *testing.T) []masterWrite {
	t.Helper()
	f, err := os.Open(filepath.Join(filepath.Dir(kubeconfig), "audit.log"))
	if err != nil {
		t.Fatalf("the local cluster's audit log: %v", err)
	}
	defer f.Close()
	var out []masterWrite
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for n := 1; sc.Scan(); n++ {
		var ev auditv1.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("audit log line %d: %v", n, err)
		}
		if ev.User.Username != masterUser || ev.Stage != auditv1.StageResponseComplete || ev.ObjectRef == nil {
			continue
		}
		pods := ev.User.Extra[podNameKey]
		if len(pods) != 1 {
			t.Fatalf("audit log line %d: a master write without its pod's name: %v", n, ev.User.Extra)
		}
		w := masterWrite{line: n, pod: pods[0], verb: ev.Verb, received: ev.RequestReceivedTimestamp.Time, answered: ev.StageTimestamp.Time}
		r := ev.ObjectRef
		w.resource = r.Resource
		if r.Subresource != "" {
			w.resource += "/" + r.Subresource
		}
		w.res, w.ns, w.name = w.resource, r.Namespace, r.Name
		w.resource += " " + r.Namespace + "/" + r.Name
		// The master writes no Lease but its own (it only reads the
		// agents' and the schedulers'); a create names none in the URL.
		w.lease = r.Resource == "leases" && r.Namespace == systemNS && (r.Name == kmv1.MasterLeaseName || ev.Verb == "create")
		if ev.ResponseStatus != nil {
			w.code = ev.ResponseStatus.Code
		}
		if ev.ResponseObject != nil {
			var answer struct {
				Metadata struct {
					ResourceVersion string `json:"resourceVersion"`
				} `json:"metadata"`
			}
			if json.Unmarshal(ev.ResponseObject.Raw, &answer) == nil {
				w.rv = answer.Metadata.ResourceVersion
			}
		}
		out = append(out, w)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// asRecord is w as the fault campaign's record has it.
func (w masterWrite) asRecord() record.Write {
	return record.Write{Pod: w.pod, Verb: w.verb, Resource: w.res, Namespace: w.ns, Name: w.name, Code: w.code,
		Received: w.received, Answered: w.answered, ResourceVersion: w.rv}
}

func masterContainer(pod *corev1.Pod) corev1.ContainerStatus {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == "master" {
			return cs
		}
	}
	return corev1.ContainerStatus{}
}

// (i) A zombie leader writes nothing: the leading master is paused
// (SIGSTOP) mid-run past its Lease, the standby takes over, and the old one
// resumes (SIGCONT) with its stale caches. The API server's own
// audit log shows that nothing the old leader's pod wrote was stored after
// the new leader's acquisition (what it sent on resuming is refused by the
// chart's kubemesos-master-leader policy); the old leader's process exited; the area is exact
// and no task state went backwards.
func TestZombieLeaderWritesNothing(t *testing.T) {
	ns := newNamespace(t, "zombie")
	tl := watchTasks(t, ns)
	montecarlo(t, ns, slow)
	wait(t, "a running task", 2*time.Minute, func() bool {
		var tasks kmv1.TaskList
		_ = c.List(context.Background(), &tasks, client.InNamespace(ns))
		for _, tk := range tasks.Items {
			if tk.Status.State == kmv1.TaskRunning {
				return true
			}
		}
		return false
	})
	began := time.Now()
	holder := leader(t)
	victim, _, _ := strings.Cut(holder, "_")
	var pod corev1.Pod
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: systemNS, Name: victim}, &pod); err != nil {
		t.Fatalf("the leader %q is not a master pod: %v", holder, err)
	}
	restarts := masterContainer(&pod).RestartCount
	pid := containerPid(t, &pod, "master")

	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("pausing the leader's process %d: %v", pid, err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	defer resume()
	var heir string
	wait(t, "the standby to take the Lease", 2*time.Minute, func() bool {
		heir = leader(t)
		return heir != "" && heir != holder
	})
	var taken coordinationv1.Lease
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: systemNS, Name: kmv1.MasterLeaseName}, &taken); err != nil {
		t.Fatal(err)
	}
	// The old leader resumes after the new one took over, mid-run.
	resume()
	wait(t, "the old leader's process to exit", 2*time.Minute, func() bool {
		var p corev1.Pod
		return c.Get(context.Background(), client.ObjectKeyFromObject(&pod), &p) == nil && masterContainer(&p).RestartCount > restarts
	})

	fw := waitDone(t, ns, 4*time.Minute)
	if fw.Status.Phase != kmv1.FrameworkCompleted || fw.Status.Result != expected(t, slow) {
		t.Fatalf("after the zombie: %s %q (%s); want %q", fw.Status.Phase, fw.Status.Result, fw.Status.Message, expected(t, slow))
	}
	tl.check(t)

	// No other leader came in between: every write of the old leader's pod
	// after the takeover would be the zombie's, not a later leader's.
	var now coordinationv1.Lease
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: systemNS, Name: kmv1.MasterLeaseName}, &now); err != nil {
		t.Fatal(err)
	}
	nowHolder, nowTransitions := ptr.Deref(now.Spec.HolderIdentity, ""), ptr.Deref(now.Spec.LeaseTransitions, 0)
	if takenTransitions := ptr.Deref(taken.Spec.LeaseTransitions, 0); nowHolder != heir || nowTransitions != takenTransitions {
		t.Fatalf("the Lease changed hands again during the run: %s (%d transitions), after %s (%d)", nowHolder, nowTransitions, heir, takenTransitions)
	}

	heirPod, _, _ := strings.Cut(heir, "_")
	writes := masterWrites(t)
	// The old leader's last successful renewal, then the new leader's
	// acquisition: its first successful write of the Lease after it.
	lastRenewal := -1
	for i, w := range writes {
		if w.pod == victim && w.lease && w.code < 300 {
			lastRenewal = i
		}
	}
	if lastRenewal < 0 {
		t.Fatalf("the audit log has no renewal by the old leader %s", victim)
	}
	var takeover *masterWrite
	for i := lastRenewal + 1; i < len(writes) && takeover == nil; i++ {
		if w := writes[i]; w.pod == heirPod && w.lease && w.code < 300 {
			takeover = &writes[i]
		}
	}
	if takeover == nil {
		t.Fatalf("the audit log has no acquisition by %s after the last renewal by %s", heirPod, victim)
	}
	// The judgement is the fault campaign's (NoWritesWithoutLease,
	// test/chaos/invariants), from the holder at the pause, over every
	// master write received since: a write of the old leader stored after
	// the takeover breaks it, whenever it was sent; one refused by the API
	// server (the chart's kubemesos-master-leader policy, 403) changed
	// nothing and is noted.
	var judged []record.Write
	before := 0
	for _, w := range writes {
		if w.pod == victim && !w.lease && w.code < 300 && w.answered.Before(takeover.received) {
			before++
		}
		if !w.received.Before(began) {
			judged = append(judged, w.asRecord())
		}
	}
	report := invariants.Check([]record.Entry{{At: began, Kind: record.KindLease, Type: record.Modified, Namespace: systemNS,
		Name: kmv1.MasterLeaseName, Lease: &record.Lease{Holder: holder}}}, judged, invariants.Campaign)
	for _, v := range report.Violations {
		t.Errorf("%s: %s: %s", v.Invariant, v.Subject, v.Message)
	}
	for _, n := range report.Notes {
		t.Log(n)
	}
	after := len(report.Violations)
	if before == 0 {
		t.Errorf("the audit log shows no write by the old leader %s before the takeover: it cannot tell its writes apart", victim)
	}
	t.Logf("old leader %s: %d writes answered before the takeover, %d stored after it; new leader %s acquired the Lease at %s; %d master writes in the audit log",
		victim, before, after, heirPod, takeover.received.Format(time.RFC3339Nano), len(writes))
	var p corev1.Pod
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(&pod), &p); err == nil {
		if term := masterContainer(&p).LastTerminationState.Terminated; term != nil {
			t.Logf("the old leader's process exited with code %d", term.ExitCode)
		}
	}
}
