package kubectlmesos

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/builders"
)

// now is the fixed clock of the unit tests.
var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

// activeFw returns a registered, Active framework with a dominant share.
func activeFw(name, ns, role, share string) kmv1.Framework {
	fw := builders.MakeFramework(name, ns).Role(role).Obj()
	fw.CreationTimestamp = ago(time.Hour)
	fw.Status.FrameworkID = ns + "-" + name + "-id"
	fw.Status.Phase = kmv1.FrameworkActive
	fw.Status.DominantShare = share
	return *fw
}

// agent returns an Active agent with total, allocated and offered cpu and
// memory.
func agent(node string, phase kmv1.AgentPhase, total, allocated, offered []string) kmv1.Agent {
	a := builders.MakeAgent(node).Resources(total...).Obj()
	a.CreationTimestamp = ago(2 * time.Hour)
	a.Status.Phase = phase
	a.Status.AgentID = node + "-id"
	if allocated != nil {
		a.Status.Allocated = builders.Resources(allocated...)
	}
	if offered != nil {
		a.Status.Offered = builders.Resources(offered...)
	}
	return *a
}

func cpuMem(cpu, mem string) []string { return []string{"cpu", cpu, "memory", mem} }

func offer(name, ns, fw, node string, age time.Duration, res ...string) kmv1.Offer {
	o := builders.MakeOffer(name, ns).Framework(fw, ns+"-"+fw+"-id").Agent(node+"-id", node).Resources(res...).Obj()
	o.CreationTimestamp = ago(age)
	o.Labels = map[string]string{kmv1.LabelFramework: fw, kmv1.LabelAgent: node}
	return *o
}

func task(name, ns, fw string, created time.Duration, res ...string) *kmv1.Task {
	t := builders.MakeTask(name, ns).Framework(fw).Offer(fw+"-n1-abcde").Resources(res...).Command("busybox:stable", "sleep", "60").Obj()
	t.CreationTimestamp = ago(created)
	return t
}

// healthyFramework is facts in which no rule fires: the framework is
// Active and alone, and an idle agent has room for its last task.
func healthyFramework() FrameworkFacts {
	me := activeFw("me", "team", "*", "0.1")
	return FrameworkFacts{
		Framework:    &me,
		Frameworks:   []kmv1.Framework{me},
		Agents:       []kmv1.Agent{agent("n1", kmv1.AgentActive, cpuMem("4", "8Gi"), cpuMem("1", "1Gi"), nil)},
		LastTask:     task("t1", "team", "me", time.Minute, "cpu", "1", "memory", "1Gi"),
		Weights:      map[string]float64{},
		WeightsKnown: true,
		Now:          now,
	}
}

// starvedWorld is the cluster of the golden files: three agents (one
// Unreachable), four frameworks over two roles, and "big", which refuses
// one agent, asks more than the other has free and ranks last in DRF.
func starvedWorld() (FrameworkFacts, ClusterFacts) {
	big := activeFw("big", "team", "*", "0.6")
	big.Status.Tasks = kmv1.TaskCounts{Running: 2, Finished: 1}
	big.Status.Allocated = builders.Resources("cpu", "2", "memory", "4Gi")
	web := activeFw("web", "team", "*", "0.5")
	web.Status.Tasks = kmv1.TaskCounts{Running: 3, Finished: 2}
	web.Status.Allocated = builders.Resources("cpu", "4", "memory", "2Gi")
	batch := activeFw("batch", "team", "*", "0.2")
	batch.Status.Tasks = kmv1.TaskCounts{Running: 1}
	batch.Status.OutstandingOffers = 1
	batch.Status.Allocated = builders.Resources("cpu", "500m", "memory", "1Gi")
	etl := activeFw("etl", "data", "eng/batch", "0.1")
	etl.Status.Tasks = kmv1.TaskCounts{Running: 1, Failed: 1}
	etl.Status.Allocated = builders.Resources("cpu", "500m", "memory", "1Gi")
	idle := activeFw("idle", "data", "eng/batch", "0")
	idle.Spec.SuppressOffers = true
	agents := []kmv1.Agent{
		agent("n1", kmv1.AgentActive, cpuMem("4", "8Gi"), cpuMem("3", "4Gi"), cpuMem("500m", "2Gi")),
		agent("n2", kmv1.AgentActive, cpuMem("4", "8Gi"), cpuMem("4", "6Gi"), nil),
		agent("n3", kmv1.AgentUnreachable, cpuMem("4", "8Gi"), nil, nil),
	}
	agents[2].Status.UnreachableTime = ptr.To(ago(5 * time.Minute))
	agents[2].Status.Message = "no heartbeat for 75s"
	fws := []kmv1.Framework{big, web, batch, etl, idle}
	weights := map[string]float64{"eng": 2}
	// big declined n2 (its filter on n1 has ended).
	filters := []DeclineFilter{{AgentID: "n2-id", Node: "n2", Until: now.Add(4*time.Minute + 5*time.Second)}, {AgentID: "n1-id", Node: "n1", Until: now.Add(-time.Second)}}
	ff := FrameworkFacts{Framework: &fws[0], Frameworks: fws, Agents: agents,
		LastTask: task("big-7", "team", "big", 2*time.Minute, "cpu", "2", "memory", "1Gi"),
		Weights:  weights, WeightsKnown: true, Filters: filters, Now: now}
	cf := ClusterFacts{Agents: agents, Frameworks: fws, Weights: weights, WeightsKnown: true}
	return ff, cf
}

// stagedTask is a custom-executor task admitted on n1, its agent Active.
func stagedTask() TaskFacts {
	t := task("t1", "team", "me", 3*time.Minute, "cpu", "1")
	t.Spec.Command = nil
	t.Spec.Executor = &kmv1.ExecutorInfo{ExecutorID: "exec-1", Image: "example/executor:1"}
	t.Spec.AgentID = "n1-id"
	t.Status = kmv1.TaskStatus{State: kmv1.TaskStaging, Source: kmv1.SourceMaster, AgentID: "n1-id", NodeName: "n1", StagingTime: ptr.To(ago(2 * time.Minute))}
	fw := activeFw("me", "team", "*", "0.1")
	a := agent("n1", kmv1.AgentActive, cpuMem("4", "8Gi"), nil, nil)
	return TaskFacts{Task: t, Framework: &fw, Agent: &a, Now: now}
}

func pod(name string, phase corev1.PodPhase) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team", CreationTimestamp: ago(90 * time.Second)},
		Status: corev1.PodStatus{Phase: phase}}
}
