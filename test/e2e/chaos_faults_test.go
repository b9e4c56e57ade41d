//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/testenv"
	"github.com/kubemesos/kubemesos/test/chaos/diskthrottle"
	"github.com/kubemesos/kubemesos/test/chaos/invariants"
	"github.com/kubemesos/kubemesos/test/chaos/record"
)

// The settings the e2e install gives the master and the agents
// (install), besides invariants.Campaign's: the fault durations are
// derived from them.
const (
	chaosAgentPing       = 2 * time.Second
	chaosMaxAgentPings   = 3
	chaosRecoveryTimeout = 2 * time.Minute
)

// injector applies faults to the local cluster, each chosen and timed by
// its random source, so that a seed replays a run's choices.
type injector struct {
	rng *rand.Rand
	rec *recorder
	// clusterDir is the local cluster's directory (the kubeconfig's).
	clusterDir string
}

// fault is one kind of fault: apply does it (and undoes it, for a pause
// or a partition) and returns what it hit and when it was undone.
type fault struct {
	kind  string
	apply func(ctx context.Context, in *injector) (target string, undone time.Time, err error)
}

// faults are the kinds the campaign applies.
var faults = []fault{
	{record.FaultLeaderKill, func(ctx context.Context, in *injector) (string, time.Time, error) {
		pod, pid, err := leaderPid(ctx)
		if err != nil {
			return pod, time.Time{}, err
		}
		return pod, time.Time{}, syscall.Kill(pid, syscall.SIGKILL)
	}},
	{record.FaultLeaderPause, func(ctx context.Context, in *injector) (string, time.Time, error) {
		d := invariants.Campaign.LeaseDuration + time.Duration(1+in.rng.IntN(3))*time.Second
		pod, pid, err := leaderPid(ctx)
		if err != nil {
			return pod, time.Time{}, err
		}
		started, err := processStart(pid)
		if err != nil {
			return pod, time.Time{}, err
		}
		if err := pausePid(ctx, pid, d); err != nil {
			return pod, time.Time{}, err
		}
		undone := time.Now()
		// A master that wakes up past its Lease must exit (its container
		// restarts it as a standby), not go on as a leader: recovery
		// waits for that.
		if !exits(ctx, pid, started, chaosRecoveryTimeout) {
			return pod, undone, &stuckError{fmt.Sprintf("the paused leader's master (pid %d) still ran %s after it resumed past its Lease", pid, chaosRecoveryTimeout)}
		}
		return pod, undone, nil
	}},
	{record.FaultAgentRestart, func(ctx context.Context, in *injector) (string, time.Time, error) {
		pod, err := in.pick(ctx, client.MatchingLabels{"app.kubernetes.io/component": "agent"}, client.InNamespace(systemNS))
		if err != nil {
			return "", time.Time{}, err
		}
		return pod.Spec.NodeName, time.Time{}, signalPod(pod, "", syscall.SIGKILL)
	}},
	{record.FaultAgentPause, func(ctx context.Context, in *injector) (string, time.Time, error) {
		pod, err := in.pick(ctx, client.MatchingLabels{"app.kubernetes.io/component": "agent"}, client.InNamespace(systemNS))
		if err != nil {
			return "", time.Time{}, err
		}
		past := chaosAgentPing*chaosMaxAgentPings + time.Duration(1+in.rng.IntN(3))*time.Second
		err = pausePod(ctx, pod, "", past)
		return pod.Spec.NodeName, time.Now(), err
	}},
	{record.FaultExecutorCrash, func(ctx context.Context, in *injector) (string, time.Time, error) {
		pod, err := in.pick(ctx, client.HasLabels{kmv1.LabelExecutor})
		if err != nil {
			return "", time.Time{}, err
		}
		return pod.Namespace + "/" + pod.Name, time.Time{}, signalPod(pod, "", syscall.SIGKILL)
	}},
	{record.FaultSchedulerKill, func(ctx context.Context, in *injector) (string, time.Time, error) {
		pod, err := in.pickScheduler(ctx)
		if err != nil {
			return "", time.Time{}, err
		}
		return pod.Namespace + "/" + pod.Name, time.Time{}, signalPod(pod, "", syscall.SIGKILL)
	}},
	{record.FaultSchedulerPause, func(ctx context.Context, in *injector) (string, time.Time, error) {
		pod, err := in.pickScheduler(ctx)
		if err != nil {
			return "", time.Time{}, err
		}
		err = pausePod(ctx, pod, "", time.Duration(2+in.rng.IntN(6))*time.Second)
		return pod.Namespace + "/" + pod.Name, time.Now(), err
	}},
	{record.FaultAPIServerStop, func(ctx context.Context, in *injector) (string, time.Time, error) {
		out, err := run(filepath.Join(testenv.RepoRoot(), "bin", "localcluster"), "restart-apiserver", "--dir", in.clusterDir)
		if err != nil {
			err = fmt.Errorf("%w: %s", err, out)
		}
		return "kube-apiserver", time.Now(), err
	}},
	{record.FaultEtcdStall, func(ctx context.Context, in *injector) (string, time.Time, error) {
		pid, err := hostPid("etcd", in.clusterDir)
		if err != nil {
			return "", time.Time{}, err
		}
		err = pausePid(ctx, pid, time.Duration(200+in.rng.IntN(1800))*time.Millisecond)
		return "etcd", time.Now(), err
	}},
	{record.FaultEtcdSlowDisk, func(ctx context.Context, in *injector) (string, time.Time, error) {
		pid, err := hostPid("etcd", in.clusterDir)
		if err != nil {
			return "", time.Time{}, err
		}
		iops := 2 + in.rng.IntN(9)
		err = slowDisk(ctx, pid, iops, time.Duration(2+in.rng.IntN(7))*time.Second)
		return fmt.Sprintf("etcd (%d write IOPS)", iops), time.Now(), err
	}},
	{record.FaultNodePartition, func(ctx context.Context, in *injector) (string, time.Time, error) {
		node := fmt.Sprintf("node-%d", 1+in.rng.IntN(3))
		past := chaosAgentPing*chaosMaxAgentPings + time.Duration(1+in.rng.IntN(3))*time.Second
		err := partition(ctx, node, past)
		return node, time.Now(), err
	}},
}

// inject applies one fault of kind and records it, with when the cluster
// was whole again.
func (in *injector) inject(ctx context.Context, kind string) record.Fault {
	var f fault
	for _, k := range faults {
		if k.kind == kind {
			f = k
		}
	}
	start := time.Now()
	target, undone, err := f.apply(ctx, in)
	if undone.IsZero() {
		undone = time.Now() // a kill: recovery starts at once
	}
	rf := record.Fault{Kind: kind, Target: target, Undone: undone}
	var stuck *stuckError
	if errors.As(err, &stuck) {
		rf.Stuck = stuck.why
	} else if err != nil {
		rf.Error = err.Error()
	} else if at, why := waitWhole(ctx, chaosRecoveryTimeout); why == "" {
		rf.Recovered = at
	} else {
		rf.Stuck = fmt.Sprintf("not whole within %s: %s", chaosRecoveryTimeout, why)
	}
	in.rec.add(record.Entry{At: start, Kind: record.KindFault, Fault: &rf})
	return rf
}

// stuckError is a fault that was applied and undone but that the system
// did not get over: it is recorded as not recovered, with why.
type stuckError struct{ why string }

func (e *stuckError) Error() string { return e.why }

// processStart is when process pid started, in clock ticks since boot
// (field 22 of /proc/<pid>/stat): a pid reused by another process has
// another.
func processStart(pid int) (string, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	// The command name (field 2) may hold spaces; the fields after it
	// start after its closing parenthesis, with the state (field 3).
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return "", fmt.Errorf("/proc/%d/stat: unexpected %q", pid, stat)
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 20 {
		return "", fmt.Errorf("/proc/%d/stat: unexpected %q", pid, stat)
	}
	if fields[0] == "Z" {
		return "", fmt.Errorf("process %d has exited", pid)
	}
	return fields[19], nil
}

// exits reports whether process pid, which started at started
// (processStart), exits within d.
func exits(ctx context.Context, pid int, started string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if now, err := processStart(pid); err != nil || now != started {
			return true
		}
		sleepCtx(ctx, 250*time.Millisecond)
	}
	return false
}

// pick is a random pod of those opts select whose containers all run,
// waiting up to a minute for one (a framework between runs has none).
func (in *injector) pick(ctx context.Context, opts ...client.ListOption) (*corev1.Pod, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		var pods corev1.PodList
		if err := c.List(ctx, &pods, opts...); err != nil && time.Now().After(deadline) {
			return nil, err
		}
		var running []*corev1.Pod
		for i := range pods.Items {
			if p := &pods.Items[i]; p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && allRunning(p) {
				running = append(running, p)
			}
		}
		if len(running) > 0 {
			return running[in.rng.IntN(len(running))], nil
		}
		if time.Now().After(deadline) {
			return nil, errors.New("no running pod to hit within a minute")
		}
		sleepCtx(ctx, time.Second)
	}
}

// allRunning reports whether every container of p runs.
func allRunning(p *corev1.Pod) bool {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running == nil {
			return false
		}
	}
	return len(p.Status.ContainerStatuses) > 0
}

// pickScheduler is a random running framework scheduler pod.
func (in *injector) pickScheduler(ctx context.Context) (*corev1.Pod, error) {
	return in.pick(ctx, client.MatchingLabels{kmv1.LabelComponent: "scheduler"})
}

// leaderPid is the pod and the master process of the leader, waiting up
// to a minute for a live one: the Lease may still name a pod whose master
// has just exited (it lost the Lease in the last fault) or runs again as a
// new process that does not hold the Lease (its container started after
// the Lease was taken), and a fault on no leader would not be the fault
// the plan asked for.
func leaderPid(ctx context.Context) (string, int, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		name, pid, err := livePid(ctx)
		if err == nil {
			return name, pid, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return name, 0, fmt.Errorf("no live leader within a minute: %w", err)
		}
		sleepCtx(ctx, time.Second)
	}
}

// livePid is one look for leaderPid.
func livePid(ctx context.Context) (string, int, error) {
	var l coordinationv1.Lease
	if err := c.Get(ctx, client.ObjectKey{Namespace: systemNS, Name: kmv1.MasterLeaseName}, &l); err != nil {
		return "", 0, err
	}
	name, _, _ := strings.Cut(ptr.Deref(l.Spec.HolderIdentity, ""), "_")
	var pod corev1.Pod
	if err := c.Get(ctx, client.ObjectKey{Namespace: systemNS, Name: name}, &pod); err != nil {
		return name, 0, fmt.Errorf("the leader %q is not a master pod: %w", name, err)
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == "master" && cs.State.Running != nil && l.Spec.AcquireTime != nil && cs.State.Running.StartedAt.After(l.Spec.AcquireTime.Time) {
			return name, 0, fmt.Errorf("the master of pod %s started at %s, after the Lease was taken (%s)", name, cs.State.Running.StartedAt, l.Spec.AcquireTime)
		}
	}
	pid, err := podPid(&pod, "master")
	return name, pid, err
}

func signalPod(pod *corev1.Pod, container string, sig syscall.Signal) error {
	pid, err := podPid(pod, container)
	if err != nil {
		return err
	}
	return syscall.Kill(pid, sig)
}

// pausePod stops a pod's main process for d (SIGSTOP, then SIGCONT).
func pausePod(ctx context.Context, pod *corev1.Pod, container string, d time.Duration) error {
	pid, err := podPid(pod, container)
	if err != nil {
		return err
	}
	return pausePid(ctx, pid, d)
}

// pausePid stops a process for d; it resumes it even if ctx ends.
func pausePid(ctx context.Context, pid int, d time.Duration) error {
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return err
	}
	sleepCtx(ctx, d)
	return syscall.Kill(pid, syscall.SIGCONT)
}

// hostPid finds a process of the local cluster's control plane by its
// executable's name and the cluster directory in its flags.
func hostPid(name, dir string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		args, err := argv(pid)
		if err != nil {
			continue
		}
		if filepath.Base(args[0]) == name && strings.Contains(strings.Join(args, "\x00"), dir) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no %s process of the cluster in %s", name, dir)
}

// argv returns the command line of process pid.
func argv(pid int) ([]string, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, err
	}
	return strings.Split(string(raw), "\x00"), nil
}

// slowDisk caps the writes of process pid to the disk of its --data-dir at
// iops per second for d, so that each fsync waits on the disk.
func slowDisk(ctx context.Context, pid, iops int, d time.Duration) error {
	args, err := argv(pid)
	if err != nil {
		return err
	}
	dataDir := ""
	for _, arg := range args {
		if v, ok := strings.CutPrefix(arg, "--data-dir="); ok {
			dataDir = v
		}
	}
	if dataDir == "" {
		return fmt.Errorf("process %d has no --data-dir= flag", pid)
	}
	disk, err := diskthrottle.DiskOf(dataDir)
	if err != nil {
		return err
	}
	th, err := diskthrottle.Throttle(pid, disk, iops)
	if err != nil {
		return err
	}
	sleepCtx(ctx, d)
	return th.Undo()
}

// partition cuts a node off the API server for d: in the node's network
// namespace, packets to the control plane's address are dropped, both
// ways, then the rules are removed.
func partition(ctx context.Context, node string, d time.Duration) error {
	netns := "/run/netns/kubemesos-" + node
	rule := func(op, chain, dir string) error {
		out, err := exec.Command("nsenter", "--net="+netns, "--", "iptables", op, chain, dir, "10.87.0.1", "-j", "DROP").CombinedOutput()
		if err != nil {
			return fmt.Errorf("iptables %s %s in %s: %w: %s", op, chain, node, err, out)
		}
		return nil
	}
	if err := rule("-I", "OUTPUT", "-d"); err != nil {
		return err
	}
	if err := rule("-I", "INPUT", "-s"); err != nil {
		_ = rule("-D", "OUTPUT", "-d")
		return err
	}
	sleepCtx(ctx, d)
	return errors.Join(rule("-D", "OUTPUT", "-d"), rule("-D", "INPUT", "-s"))
}

// waitWhole waits until the cluster is whole: the API server answers,
// every Agent is Active, every kubemesos pod (both masters, every agent)
// is Ready, and a master holds a Lease renewed after the call. It returns
// when, or, when it is not whole within, what was still broken last.
func waitWhole(ctx context.Context, within time.Duration) (time.Time, string) {
	since := time.Now()
	deadline := since.Add(within)
	why := "not checked"
	for time.Now().Before(deadline) && ctx.Err() == nil {
		broken := notWhole(ctx, since)
		if len(broken) == 0 {
			return time.Now(), ""
		}
		why = strings.Join(broken, "; ")
		sleepCtx(ctx, 250*time.Millisecond)
	}
	// What the nodes showed, which the kubemesos pods and the Agents
	// depend on.
	if nodes := nodeTrouble(ctx); len(nodes) > 0 {
		why += "; " + strings.Join(nodes, "; ")
	}
	return time.Time{}, why
}

// notWhole says what keeps the cluster from being whole (waitWhole),
// nothing when it is.
func notWhole(ctx context.Context, since time.Time) []string {
	var agents kmv1.AgentList
	if err := c.List(ctx, &agents); err != nil {
		return []string{fmt.Sprintf("listing the Agents: %v", err)}
	}
	var out []string
	active := countPhase(agents.Items, kmv1.AgentActive)
	if nodes := countNodes(ctx); len(agents.Items) == 0 || active != nodes {
		var phases []string
		for _, a := range agents.Items {
			if a.Status.Phase != kmv1.AgentActive {
				phases = append(phases, fmt.Sprintf("%s %s", a.Name, a.Status.Phase))
			}
		}
		out = append(out, fmt.Sprintf("%d Agents Active of %d nodes (%s)", active, nodes, strings.Join(phases, ", ")))
	}
	var l coordinationv1.Lease
	if err := c.Get(ctx, client.ObjectKey{Namespace: systemNS, Name: kmv1.MasterLeaseName}, &l); err != nil {
		out = append(out, fmt.Sprintf("reading the master Lease: %v", err))
	} else if l.Spec.RenewTime == nil || !l.Spec.RenewTime.After(since) {
		out = append(out, "the master Lease was not renewed since the fault")
	}
	return append(out, systemNotReady(ctx)...)
}

// countNodes counts the cluster's nodes, 0 when they cannot be read.
func countNodes(ctx context.Context) int {
	var nodes corev1.NodeList
	if err := c.List(ctx, &nodes); err != nil {
		return -1
	}
	return len(nodes.Items)
}

// systemNotReady names the pods of kubemesos-system that are not Ready,
// with their container's state when it is not running.
func systemNotReady(ctx context.Context) []string {
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(systemNS)); err != nil {
		return []string{fmt.Sprintf("listing the pods of %s: %v", systemNS, err)}
	}
	if len(pods.Items) == 0 {
		return []string{"no pod in " + systemNS}
	}
	var out []string
	for _, p := range pods.Items {
		ready := false
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if ready {
			continue
		}
		what := fmt.Sprintf("pod %s on %s not Ready", p.Name, p.Spec.NodeName)
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil {
				what += fmt.Sprintf(" (%s %s, %d restarts)", cs.Name, w.Reason, cs.RestartCount)
			}
		}
		out = append(out, what)
	}
	return out
}

// nodeTrouble names the nodes that are not Ready or carry a taint, with
// why.
func nodeTrouble(ctx context.Context) []string {
	var nodes corev1.NodeList
	if err := c.List(ctx, &nodes); err != nil {
		return []string{fmt.Sprintf("listing the nodes: %v", err)}
	}
	var out []string
	for _, n := range nodes.Items {
		var bad []string
		for _, cond := range n.Status.Conditions {
			if (cond.Type == corev1.NodeReady) != (cond.Status == corev1.ConditionTrue) {
				bad = append(bad, fmt.Sprintf("%s=%s (%s: %s)", cond.Type, cond.Status, cond.Reason, cond.Message))
			}
		}
		for _, taint := range n.Spec.Taints {
			bad = append(bad, "taint "+taint.ToString())
		}
		if len(bad) > 0 {
			out = append(out, fmt.Sprintf("node %s: %s", n.Name, strings.Join(bad, ", ")))
		}
	}
	return out
}
