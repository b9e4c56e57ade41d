package controllers_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/metrics"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestAgentAdmission(t *testing.T) {
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "adm-1", "cpu", "4", "memory", "8Gi")
	eventually(t, "the agent is admitted", func() (bool, error) {
		a := getAgent(t, "adm-1")
		return a.Status.Phase == kmv1.AgentActive && a.Status.AgentID != "", nil
	})
	a := getAgent(t, "adm-1")
	if !strings.HasPrefix(a.Status.AgentID, "adm-1-") {
		t.Errorf("agentID %q does not name its node", a.Status.AgentID)
	}
	for _, c := range []string{kmv1.AgentAdmitted, kmv1.AgentReady} {
		if !meta.IsStatusConditionTrue(a.Status.Conditions, c) {
			t.Errorf("condition %s is not true: %+v", c, a.Status.Conditions)
		}
	}
	if a.Status.RegisteredTime == nil {
		t.Error("registeredTime is not set")
	}
}

// TestAgentClockSkew: liveness is judged by the master's clock. An agent
// whose clock runs an hour behind stays Active while it renews; one whose
// clock runs an hour ahead becomes Unreachable soon after it stops.
func TestAgentClockSkew(t *testing.T) {
	startMaster(t, testOptions(), false, "master")
	addAgentSkewed(t, "skew-behind", -time.Hour, "cpu", "1")
	ahead := addAgentSkewed(t, "skew-ahead", time.Hour, "cpu", "1")
	for _, n := range []string{"skew-behind", "skew-ahead"} {
		eventually(t, n+" is admitted", func() (bool, error) { return getAgent(t, n).Status.Phase == kmv1.AgentActive, nil })
	}
	// Several ping timeouts (testOptions: 0.5s × 5) pass.
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if p := getAgent(t, "skew-behind").Status.Phase; p != kmv1.AgentActive {
			t.Fatalf("a renewing agent with a lagging clock became %s", p)
		}
	}
	ahead.stop()
	eventually(t, "the stopped agent with a leading clock is Unreachable", func() (bool, error) {
		return getAgent(t, "skew-ahead").Status.Phase == kmv1.AgentUnreachable, nil
	})
}

func TestAgentWithoutHeartbeatWaits(t *testing.T) {
	startMaster(t, testOptions(), false, "master")
	ctx := context.Background()
	if err := env.Client.Create(ctx, b.MakeAgent("nohb-1").Resources("cpu", "1").Obj()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Client.Delete(ctx, getAgent(t, "nohb-1")) }()
	eventually(t, "the agent is Registering", func() (bool, error) {
		return getAgent(t, "nohb-1").Status.Phase == kmv1.AgentRegistering, nil
	})
	if id := getAgent(t, "nohb-1").Status.AgentID; id != "" {
		t.Errorf("an agent without a heartbeat was admitted as %s", id)
	}
}

// TestADeletedLeaseIsNoHeartbeatMissed: an agent whose heartbeat Lease is
// deleted (by hand, or with its namespace's Leases) is judged from its
// last renewal, not removed at once: it stays Active for the agent
// timeout, and is removed only if no renewal comes within it.
func TestADeletedLeaseIsNoHeartbeatMissed(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	hb := addAgent(t, "nolease-1", "cpu", "4", "memory", "8Gi")
	eventually(t, "the agent is admitted", func() (bool, error) { return getAgent(t, "nolease-1").Status.Phase == kmv1.AgentActive, nil })
	hb.stop()
	if err := env.Client.Delete(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: leaseKey("nolease-1").Namespace,
		Name: leaseKey("nolease-1").Name}}); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	// testOptions: a 2.5 s agent timeout; most of it passes.
	for time.Since(deleted) < 1500*time.Millisecond {
		if p := getAgent(t, "nolease-1").Status.Phase; p != kmv1.AgentActive {
			t.Fatalf("the agent became %s %v after its Lease was deleted, within the agent timeout", p, time.Since(deleted))
		}
		time.Sleep(100 * time.Millisecond)
	}
	eventually(t, "the agent is Unreachable once the timeout has passed", func() (bool, error) {
		return getAgent(t, "nolease-1").Status.Phase == kmv1.AgentUnreachable, nil
	})
}

// TestADeletedAgentLosesItsTasks: deleting an Agent object, its agent
// still running (it makes its Agent again and is admitted under a new
// agentID) or not, loses the tasks of its old agentID as a removal does:
// TASK_LOST, SOURCE_MASTER, REASON_AGENT_REMOVED, never left running
// with no executor.
func TestADeletedAgentLosesItsTasks(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "deleted-1", "cpu", "4", "memory", "8Gi")
	ns, oldID := stageCommandTask(t, "deletedfw", "orphan")
	tk := getTask(t, ns, "orphan")
	tk.Status.State, tk.Status.Source = kmv1.TaskRunning, kmv1.SourceAgent
	if err := env.Client.Status().Update(ctx, tk); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(ctx, getAgent(t, "deleted-1")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the task of the deleted Agent is TASK_LOST", func() (bool, error) {
		return getTask(t, ns, "orphan").Status.State == kmv1.TaskLost, nil
	})
	if st := getTask(t, ns, "orphan").Status; st.Source != kmv1.SourceMaster || st.Reason != kmv1.ReasonAgentRemoved || !strings.Contains(st.Message, oldID) {
		t.Errorf("the lost task's status %s %s %q, want SOURCE_MASTER, REASON_AGENT_REMOVED, naming %s", st.Source, st.Reason, st.Message, oldID)
	}
}

// TestAFailedRemovalOfAnIdleAgentStagesAgain: a removal of an agent that
// runs no task, whose write of the Agent's status failed, leaves the agent
// as it was: tasks are staged on it again (were they refused until a sweep
// five minutes later, every launch on it meanwhile was dropped).
func TestAFailedRemovalOfAnIdleAgentStagesAgain(t *testing.T) {
	ctx := context.Background()
	agent := b.MakeAgent("idle-1").Resources("cpu", "1").Obj()
	if err := env.Client.Create(ctx, agent); err != nil {
		t.Fatal(err)
	}
	agent.Status.Phase, agent.Status.AgentID = kmv1.AgentActive, "idle-1-0000abcd"
	if err := env.Client.Status().Update(ctx, agent); err != nil {
		t.Fatal(err)
	}
	stages, err := controllers.RemoveIdleAgentFailingItsWrite(ctx, env.Client, agent)
	if err == nil {
		t.Fatal("the removal succeeded; want its write's timeout")
	}
	if !stages {
		t.Error("after a failed removal that marked nothing, the agent no longer stages tasks")
	}
}

// TestAgentLostAndReadmitted kills an agent's heartbeat: it becomes
// Unreachable, its offers go and its tasks become TASK_LOST. When the
// heartbeat resumes it comes back under a new agentID and the tasks stay lost.
func TestAgentLostAndReadmitted(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	hb := addAgent(t, "lost-1", "cpu", "4", "memory", "8Gi")
	ns, oldID := stageCommandTask(t, "lostfw", "lost-task")
	// The agent runs it, as far as the registry knows.
	tk := getTask(t, ns, "lost-task")
	tk.Status.State = kmv1.TaskRunning
	tk.Status.Source = kmv1.SourceAgent
	if err := env.Client.Status().Update(ctx, tk); err != nil {
		t.Fatal(err)
	}

	hb.stop()
	var removed *kmv1.Agent
	eventually(t, "the agent is Unreachable", func() (bool, error) {
		removed = getAgent(t, "lost-1")
		return removed.Status.Phase == kmv1.AgentUnreachable, nil
	})
	// The task was lost before the registry said its agentID was removed
	// (by the API server's order of writes), so that nothing from that
	// agentID can start it after the removal.
	tk = getTask(t, ns, "lost-task")
	if tk.Status.State != kmv1.TaskLost {
		t.Fatalf("the task is %s once its agent is Unreachable, want TASK_LOST already", tk.Status.State)
	}
	taskRV, _ := strconv.ParseInt(tk.ResourceVersion, 10, 64)
	agentRV, _ := strconv.ParseInt(removed.ResourceVersion, 10, 64)
	if taskRV >= agentRV {
		t.Errorf("the task became TASK_LOST at resourceVersion %d, after its agent became Unreachable (%d)", taskRV, agentRV)
	}
	// A status from the removed agentID is refused now (terminal states
	// are immutable).
	late := tk.DeepCopy()
	late.Status.State, late.Status.Source, late.Status.Reason = kmv1.TaskStarting, kmv1.SourceAgent, ""
	if err := env.Client.Status().Update(ctx, late); err == nil {
		t.Error("the API server took TASK_STARTING for a task already lost")
	}
	if tk.Status.Source != kmv1.SourceMaster || tk.Status.Reason != kmv1.ReasonAgentRemoved {
		t.Errorf("lost task has source %s reason %s, want SOURCE_MASTER REASON_AGENT_REMOVED", tk.Status.Source, tk.Status.Reason)
	}
	eventually(t, "the agent's offers are rescinded", func() (bool, error) {
		return len(offersOf(t, ns, "lostfw")) == 0, nil
	})

	// The heartbeat resumes: a new agent, the old task stays lost.
	addBackHeartbeat(t, "lost-1")
	eventually(t, "the agent is re-admitted", func() (bool, error) {
		a := getAgent(t, "lost-1")
		return a.Status.Phase == kmv1.AgentActive && a.Status.AgentID != oldID, nil
	})
	a := getAgent(t, "lost-1")
	if c := meta.FindStatusCondition(a.Status.Conditions, kmv1.AgentAdmitted); c == nil || c.Reason != kmv1.ReasonReadmitted {
		t.Errorf("Admitted condition %+v, want reason %s", c, kmv1.ReasonReadmitted)
	}
	eventually(t, "a new offer under the new agentID", func() (bool, error) {
		os := offersOf(t, ns, "lostfw")
		return len(os) == 1 && os[0].Spec.AgentID == a.Status.AgentID, nil
	})
	if s := getTask(t, ns, "lost-task").Status.State; s != kmv1.TaskLost {
		t.Errorf("the old task is %s after re-admission, want TASK_LOST", s)
	}
}

// TestRemovalLosesTasksStagedBehindTheInformers removes an agent just after
// the master staged a task on it, before its informers show the task
// staged (the fourth default chaos run: the agent reported the task
// TASK_STARTING after its Agent was marked Unreachable, and only a later
// sweep lost it). The task must be TASK_LOST before the Agent is marked,
// and no task may be staged on the agentID once its removal began.
func TestRemovalLosesTasksStagedBehindTheInformers(t *testing.T) {
	ctx := context.Background()
	master := startMaster(t, testOptions(), false, "master")
	hb := addAgent(t, "behind-1", "cpu", "4", "memory", "8Gi")
	ns, id := stageCommandTask(t, "behindfw", "behind-task")
	// Only the removal below writes from here on.
	master.stop()
	hb.stop()

	refuses, err := controllers.RemoveAgentBehindInformers(ctx, env.Client, getAgent(t, "behind-1"), getTask(t, ns, "behind-task"))
	if err != nil {
		t.Fatal(err)
	}
	removed := getAgent(t, "behind-1")
	if removed.Status.Phase != kmv1.AgentUnreachable || removed.Status.AgentID != id {
		t.Fatalf("agent is %s under %s, want Unreachable under %s", removed.Status.Phase, removed.Status.AgentID, id)
	}
	tk := getTask(t, ns, "behind-task")
	if tk.Status.State != kmv1.TaskLost || tk.Status.Reason != kmv1.ReasonAgentRemoved {
		t.Fatalf("the task staged behind the informers is %s (%s) once its agent is Unreachable, want TASK_LOST (REASON_AGENT_REMOVED)",
			tk.Status.State, tk.Status.Reason)
	}
	taskRV, _ := strconv.ParseInt(tk.ResourceVersion, 10, 64)
	agentRV, _ := strconv.ParseInt(removed.ResourceVersion, 10, 64)
	if taskRV >= agentRV {
		t.Errorf("the task became TASK_LOST at resourceVersion %d, after its agent became Unreachable (%d)", taskRV, agentRV)
	}
	if !refuses {
		t.Error("the master would still stage tasks on an agentID whose removal began")
	}
}

func addBackHeartbeat(t *testing.T, node string) {
	t.Helper()
	renewLease(t, leaseKey(node), kmv1.LeaseKindAgent, time.Second)
}

// TestAgentRemovalRateLimit stops three heartbeats at once, as an API
// server or network outage would: with a limit of one per hour only one
// agent is marked Unreachable, and the others keep their tasks.
func TestAgentRemovalRateLimit(t *testing.T) {
	o := testOptions()
	o.AgentRemovalRate = 1
	o.AgentRemovalPeriod = time.Hour
	first := startMaster(t, o, false, "master")
	nodes := []string{"rl-1", "rl-2", "rl-3"}
	var hbs []*heartbeat
	for _, n := range nodes {
		hbs = append(hbs, addAgent(t, n, "cpu", "1"))
	}
	for _, n := range nodes {
		eventually(t, n+" admitted", func() (bool, error) { return getAgent(t, n).Status.Phase == kmv1.AgentActive, nil })
	}
	deferred := testutil.ToFloat64(metrics.AgentRemovalsDeferred)
	for _, hb := range hbs {
		hb.stop()
	}
	eventually(t, "one agent Unreachable", func() (bool, error) {
		return countPhase(t, nodes, kmv1.AgentUnreachable) == 1, nil
	})
	// The positive sign: the master looked at the two other stale agents
	// and deferred their removal. The bound holds.
	eventually(t, "two removals deferred", func() (bool, error) {
		return testutil.ToFloat64(metrics.AgentRemovalsDeferred) >= deferred+2, nil
	})
	// The gauge an alert watches counts agents, not retries.
	eventually(t, "two agents held back", func() (bool, error) {
		return testutil.ToFloat64(metrics.AgentRemovalsHeld) == 2, nil
	})
	if n := countPhase(t, nodes, kmv1.AgentUnreachable); n != 1 {
		t.Fatalf("%d agents Unreachable under a limit of 1 per hour", n)
	}
	if n := countPhase(t, nodes, kmv1.AgentActive); n != 2 {
		t.Fatalf("%d agents still Active, want 2 deferred", n)
	}
	// A new leader has a limiter of its own: it counts the removal the
	// registry records, and removes no more within the hour.
	first.stop()
	deferred = testutil.ToFloat64(metrics.AgentRemovalsDeferred)
	startMaster(t, o, false, "master-2")
	eventually(t, "the new master to defer the two removals", func() (bool, error) {
		return testutil.ToFloat64(metrics.AgentRemovalsDeferred) >= deferred+2, nil
	})
	if n := countPhase(t, nodes, kmv1.AgentUnreachable); n != 1 {
		t.Fatalf("%d agents Unreachable after a failover under a limit of 1 per hour", n)
	}
}

func countPhase(t *testing.T, nodes []string, p kmv1.AgentPhase) int {
	n := 0
	for _, node := range nodes {
		if getAgent(t, node).Status.Phase == p {
			n++
		}
	}
	return n
}

// TestNodeDeletedMakesAgentGone deletes an agent's Node.
func TestNodeDeletedMakesAgentGone(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "gone-1", "cpu", "1")
	eventually(t, "admitted", func() (bool, error) { return getAgent(t, "gone-1").Status.Phase == kmv1.AgentActive, nil })
	var node = getNode(t, "gone-1")
	if err := env.Client.Delete(ctx, node); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the agent is Gone", func() (bool, error) { return getAgent(t, "gone-1").Status.Phase == kmv1.AgentGone, nil })
}

// TestUnreachableAgentGoneWithItsNode: an agent already unreachable whose
// node is then deleted is Gone, not unreachable for ever.
func TestUnreachableAgentGoneWithItsNode(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	hb := addAgent(t, "gone-2", "cpu", "1")
	eventually(t, "admitted", func() (bool, error) { return getAgent(t, "gone-2").Status.Phase == kmv1.AgentActive, nil })
	hb.stop()
	eventually(t, "unreachable", func() (bool, error) { return getAgent(t, "gone-2").Status.Phase == kmv1.AgentUnreachable, nil })
	if err := env.Client.Delete(ctx, getNode(t, "gone-2")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the agent is Gone", func() (bool, error) {
		a := getAgent(t, "gone-2")
		c := meta.FindStatusCondition(a.Status.Conditions, kmv1.AgentReady)
		return a.Status.Phase == kmv1.AgentGone && c != nil && c.Reason == kmv1.ReasonNodeDeleted, nil
	})
}

// TestHalfDoneRemovalIsFinished: a master that lost an agent's tasks but
// died (or conflicted) before marking the agent leaves an Active agent with
// a TASK_LOST of REASON_AGENT_REMOVED. The master finishes the removal
// though the heartbeat is fresh: the agent comes back under a new agentID,
// so that the lost task's agentID is removed as its TASK_LOST says.
func TestHalfDoneRemovalIsFinished(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "half-1", "cpu", "4", "memory", "8Gi")
	ns, oldID := stageCommandTask(t, "halffw", "half-task")
	// What remove wrote before its master died.
	tk := getTask(t, ns, "half-task")
	tk.Status.State, tk.Status.Source, tk.Status.Reason = kmv1.TaskLost, kmv1.SourceMaster, kmv1.ReasonAgentRemoved
	if err := env.Client.Status().Update(ctx, tk); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the agent is removed and comes back under a new agentID", func() (bool, error) {
		a := getAgent(t, "half-1")
		return a.Status.Phase == kmv1.AgentActive && a.Status.AgentID != oldID && a.Status.UnreachableTime != nil, nil
	})
	if c := meta.FindStatusCondition(getAgent(t, "half-1").Status.Conditions, kmv1.AgentAdmitted); c == nil || c.Reason != kmv1.ReasonReadmitted {
		t.Errorf("Admitted condition %+v, want reason %s", c, kmv1.ReasonReadmitted)
	}
}

// stageCommandTask adds framework fw, launches a command task on its one
// offer (the test's only agent) and waits until the master stages it. It
// returns the framework's namespace and the agentID the task is placed on.
func stageCommandTask(t *testing.T, fw, task string) (string, string) {
	t.Helper()
	_, ns := addFramework(t, b.MakeFramework(fw, "").Obj())
	offer := waitOffer(t, ns, fw)
	tk := b.MakeTask(task, ns).Framework(fw).Offer(offer.Name).Resources("cpu", "1").Command("busybox").Obj()
	if err := env.Client.Create(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the task is staged", func() (bool, error) {
		return getTask(t, ns, task).Status.State == kmv1.TaskStaging, nil
	})
	return ns, offer.Spec.AgentID
}

// TestReadmissionIsTimedByThisMastersClock: an agent removed by a leader
// whose clock ran an hour ahead (its status.unreachableTime an hour from
// now) comes back on the next renewal that this master sees, not an hour
// later: a renewal timed by this master's clock is compared with when this
// master saw the removal, not with another master's clock.
func TestReadmissionIsTimedByThisMastersClock(t *testing.T) {
	ctx := context.Background()
	startMaster(t, testOptions(), false, "master")
	addAgent(t, "skew-1", "cpu", "4", "memory", "8Gi")
	eventually(t, "the agent is admitted", func() (bool, error) { return getAgent(t, "skew-1").Status.Phase == kmv1.AgentActive, nil })
	a := getAgent(t, "skew-1")
	oldID := a.Status.AgentID
	ahead := metav1.NewTime(time.Now().Add(time.Hour))
	a.Status.Phase, a.Status.UnreachableTime = kmv1.AgentUnreachable, &ahead
	if err := env.Client.Status().Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the agent is re-admitted under a new agentID", func() (bool, error) {
		a := getAgent(t, "skew-1")
		return a.Status.Phase == kmv1.AgentActive && a.Status.AgentID != oldID, nil
	})
}
