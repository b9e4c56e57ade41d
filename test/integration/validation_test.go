package integration

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
)

// expectErr checks err against want: "" means the API server must accept the
// request; otherwise it must refuse it with a message that contains want.
func expectErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("the API server refused a valid object: %v", err)
	case want != "" && err == nil:
		t.Fatalf("the API server accepted an invalid object; want an error containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not contain %q", err.Error(), want)
	}
}

func TestFrameworkCreateValidation(t *testing.T) {
	ns := namespace(t)
	cases := []struct {
		name    string
		fw      *kmv1.Framework
		wantErr string
	}{
		{name: "minimal framework", fw: b.MakeFramework("ok", ns).Obj()},
		{name: "hierarchical role", fw: b.MakeFramework("hier", ns).Role("eng/batch").Obj()},
		{name: "role with spaces", fw: b.MakeFramework("badrole", ns).Role("Bad Role").Obj(), wantErr: "spec.role"},
		{name: "role with trailing slash", fw: b.MakeFramework("badrole2", ns).Role("eng/").Obj(), wantErr: "spec.role"},
		{name: "negative refuseSeconds", fw: b.MakeFramework("neg", ns).RefuseSeconds(-1).Obj(), wantErr: "spec.offerFilters.refuseSeconds: Invalid value: -1"},
		{name: "refuseSeconds over a day", fw: b.MakeFramework("big", ns).RefuseSeconds(86401).Obj(), wantErr: "should be less than or equal to 86400"},
		{name: "refuseSeconds zero", fw: b.MakeFramework("zero", ns).RefuseSeconds(0).Obj()},
		{name: "negative failoverTimeoutSeconds", fw: b.MakeFramework("negfo", ns).FailoverTimeout(-5).Obj(), wantErr: "spec.failoverTimeoutSeconds"},
		{name: "63-character name", fw: b.MakeFramework(strings.Repeat("a", 63), ns).Obj()},
		{name: "64-character name", fw: b.MakeFramework(strings.Repeat("a", 64), ns).Obj(), wantErr: "a Framework's name must be at most 63 characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectErr(t, env.Client.Create(context.Background(), tc.fw), tc.wantErr)
		})
	}
}

func TestFrameworkDefaults(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	fw := b.MakeFramework("defaults", ns).Obj()
	if err := env.Client.Create(ctx, fw); err != nil {
		t.Fatal(err)
	}
	if fw.Spec.Role != kmv1.DefaultRole {
		t.Errorf("role defaulted to %q, want %q", fw.Spec.Role, kmv1.DefaultRole)
	}
	if fw.Spec.OfferFilters == nil || ptr.Deref(fw.Spec.OfferFilters.RefuseSeconds, -1) != 5 {
		t.Errorf("offerFilters defaulted to %+v, want refuseSeconds 5", fw.Spec.OfferFilters)
	}
	if ptr.Deref(fw.Spec.FailoverTimeoutSeconds, -1) != 60 {
		t.Errorf("failoverTimeoutSeconds defaulted to %v, want 60", fw.Spec.FailoverTimeoutSeconds)
	}
}

func TestFrameworkStatusRules(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	cases := []struct {
		name    string
		from    kmv1.FrameworkStatus
		to      kmv1.FrameworkStatus
		wantErr string
	}{
		{name: "assign frameworkID", to: kmv1.FrameworkStatus{FrameworkID: "fw-1", Phase: kmv1.FrameworkActive}},
		{name: "change frameworkID", from: kmv1.FrameworkStatus{FrameworkID: "fw-1"}, to: kmv1.FrameworkStatus{FrameworkID: "fw-2"}, wantErr: "frameworkID cannot change once assigned"},
		{name: "remove frameworkID", from: kmv1.FrameworkStatus{FrameworkID: "fw-1"}, to: kmv1.FrameworkStatus{}, wantErr: "frameworkID cannot change once assigned"},
		{name: "active to completed", from: kmv1.FrameworkStatus{Phase: kmv1.FrameworkActive}, to: kmv1.FrameworkStatus{Phase: kmv1.FrameworkCompleted, Result: "area=1"}},
		{name: "completed to tearing down", from: kmv1.FrameworkStatus{Phase: kmv1.FrameworkCompleted}, to: kmv1.FrameworkStatus{Phase: kmv1.FrameworkTearingDown}},
		{name: "completed back to active", from: kmv1.FrameworkStatus{Phase: kmv1.FrameworkCompleted}, to: kmv1.FrameworkStatus{Phase: kmv1.FrameworkActive}, wantErr: "a Completed framework cannot become Active"},
		{name: "failed back to pending", from: kmv1.FrameworkStatus{Phase: kmv1.FrameworkFailed}, to: kmv1.FrameworkStatus{Phase: kmv1.FrameworkPending}, wantErr: "a Failed framework cannot become Pending"},
		{name: "unknown phase", to: kmv1.FrameworkStatus{Phase: "Running"}, wantErr: "status.phase: Unsupported value: \"Running\""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fw := b.MakeFramework("st"+string(rune('a'+i)), ns).Obj()
			if err := env.Client.Create(ctx, fw); err != nil {
				t.Fatal(err)
			}
			if tc.from.FrameworkID != "" || tc.from.Phase != "" {
				fw.Status = tc.from
				if err := env.Client.Status().Update(ctx, fw); err != nil {
					t.Fatalf("setting the starting status: %v", err)
				}
			}
			fw.Status = tc.to
			expectErr(t, env.Client.Status().Update(ctx, fw), tc.wantErr)
		})
	}
}

func TestTaskCreateValidation(t *testing.T) {
	ns := namespace(t)
	task := func(name string) *b.TaskWrapper {
		return b.MakeTask(name, ns).Framework("mc").Offer("o1").Resources("cpu", "1", "memory", "128Mi")
	}
	cases := []struct {
		name    string
		task    *kmv1.Task
		wantErr string
	}{
		{name: "command task", task: task("cmd").Command("busybox", "echo", "hi").Obj()},
		{name: "executor task", task: task("exec").Executor("mc-exec", "montecarloarea").Data("0:4").Obj()},
		{name: "extended resource", task: task("gpu").Resources("cpu", "1", "example.com/gpu", "2").Command("busybox").Obj()},
		{name: "command and executor", task: task("both").Command("busybox").Executor("e", "img").Obj(), wantErr: "exactly one of command or executor must be set"},
		{name: "neither command nor executor", task: task("neither").Obj(), wantErr: "exactly one of command or executor must be set"},
		{name: "negative cpu", task: task("negcpu").Resources("cpu", "-1").Command("busybox").Obj(), wantErr: "resource quantities must not be negative"},
		{name: "negative executor memory", task: func() *kmv1.Task {
			tk := task("negexec").Executor("e", "img").Obj()
			tk.Spec.Executor.Resources = b.Resources("memory", "-1Mi")
			return tk
		}(), wantErr: "resource quantities must not be negative"},
		{name: "no offers", task: b.MakeTask("nooffer", ns).Framework("mc").Command("busybox").Obj(), wantErr: "spec.offerIDs"},
		{name: "bad framework name", task: b.MakeTask("badfw", ns).Framework("Not_A_Name").Offer("o1").Command("busybox").Obj(), wantErr: "spec.framework"},
		{name: "kill grace over an hour", task: task("grace").KillGrace(3601).Command("busybox").Obj(), wantErr: "spec.killGracePeriodSeconds"},
		// Executor IDs are Mesos's: anything but control characters and
		// path separators, up to 255 characters, not "." or "..".
		{name: "Mesos executor ID", task: task("mesosexec").Executor("Web Executor_1.ü", "img").Obj()},
		{name: "executor ID with a slash", task: task("slashexec").Executor("a/b", "img").Obj(), wantErr: "spec.executor.executorID"},
		{name: "executor ID with a control character", task: task("ctlexec").Executor("a\tb", "img").Obj(), wantErr: "spec.executor.executorID"},
		{name: "executor ID ..", task: task("dotexec").Executor("..", "img").Obj(), wantErr: "executorID must not be '.' or '..'"},
		{name: "executor ID too long", task: task("longexec").Executor(strings.Repeat("e", 256), "img").Obj(), wantErr: "spec.executor.executorID"},
		{name: "empty image", task: task("noimage").Command("").Obj(), wantErr: "spec.command.image"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectErr(t, env.Client.Create(context.Background(), tc.task), tc.wantErr)
		})
	}
}

func TestTaskSpecImmutable(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	cases := []struct {
		name    string
		start   *kmv1.Task
		mutate  func(*kmv1.Task)
		wantErr string
	}{
		{name: "set kill", mutate: func(tk *kmv1.Task) { tk.Spec.Kill = true }},
		{name: "unset kill", start: b.MakeTask("x", ns).Framework("mc").Offer("o1").Command("busybox").Kill(true).Obj(), mutate: func(tk *kmv1.Task) { tk.Spec.Kill = false }, wantErr: "kill cannot be unset once true"},
		{name: "change framework", mutate: func(tk *kmv1.Task) { tk.Spec.Framework = "other" }, wantErr: "framework is immutable"},
		{name: "change offers", mutate: func(tk *kmv1.Task) { tk.Spec.OfferIDs = []string{"o2"} }, wantErr: "offerIDs is immutable"},
		{name: "set agentID", mutate: func(tk *kmv1.Task) { tk.Spec.AgentID = "a-1" }, wantErr: "agentID is immutable"},
		{name: "change resources", mutate: func(tk *kmv1.Task) { tk.Spec.Resources = b.Resources("cpu", "2") }, wantErr: "resources is immutable"},
		{name: "change command", mutate: func(tk *kmv1.Task) { tk.Spec.Command.Args = []string{"other"} }, wantErr: "command is immutable"},
		{name: "change data", mutate: func(tk *kmv1.Task) { tk.Spec.Data = "new" }, wantErr: "data is immutable"},
		{name: "set kill grace", mutate: func(tk *kmv1.Task) { tk.Spec.KillGracePeriodSeconds = ptr.To[int64](3) }, wantErr: "killGracePeriodSeconds is immutable"},
		{name: "labels stay mutable", mutate: func(tk *kmv1.Task) { tk.Labels["extra"] = "yes" }},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tk := tc.start
			if tk == nil {
				tk = b.MakeTask("", ns).Framework("mc").Offer("o1").Resources("cpu", "1").Command("busybox", "true").Obj()
			}
			tk.Name = "imm" + string(rune('a'+i))
			if err := env.Client.Create(ctx, tk); err != nil {
				t.Fatal(err)
			}
			tc.mutate(tk)
			expectErr(t, env.Client.Update(ctx, tk), tc.wantErr)
		})
	}
}

func TestTaskStatusTransitions(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	cases := []struct {
		name    string
		path    []kmv1.TaskState
		to      kmv1.TaskState
		wantErr string
	}{
		{name: "staging to running", path: []kmv1.TaskState{kmv1.TaskStaging}, to: kmv1.TaskRunning},
		{name: "running to finished", path: []kmv1.TaskState{kmv1.TaskStaging, kmv1.TaskRunning}, to: kmv1.TaskFinished},
		{name: "staging to lost", path: []kmv1.TaskState{kmv1.TaskStaging}, to: kmv1.TaskLost},
		{name: "admission error", to: kmv1.TaskError},
		{name: "finished back to running", path: []kmv1.TaskState{kmv1.TaskStaging, kmv1.TaskRunning, kmv1.TaskFinished}, to: kmv1.TaskRunning, wantErr: "task state TASK_FINISHED is terminal and cannot change to TASK_RUNNING"},
		{name: "lost to finished", path: []kmv1.TaskState{kmv1.TaskStaging, kmv1.TaskLost}, to: kmv1.TaskFinished, wantErr: "task state TASK_LOST is terminal and cannot change to TASK_FINISHED"},
		{name: "killed to failed", path: []kmv1.TaskState{kmv1.TaskStaging, kmv1.TaskKilled}, to: kmv1.TaskFailed, wantErr: "is terminal"},
		{name: "running back to staging", path: []kmv1.TaskState{kmv1.TaskStaging, kmv1.TaskRunning}, to: kmv1.TaskStaging, wantErr: "task state cannot move backwards from TASK_RUNNING to TASK_STAGING"},
		{name: "killing back to running", path: []kmv1.TaskState{kmv1.TaskStaging, kmv1.TaskKilling}, to: kmv1.TaskRunning, wantErr: "cannot move backwards"},
		{name: "remove the state", path: []kmv1.TaskState{kmv1.TaskStaging}, to: "", wantErr: "state cannot be removed once set"},
		{name: "unknown state", to: "TASK_BOGUS", wantErr: "Unsupported value: \"TASK_BOGUS\""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tk := b.MakeTask("st"+string(rune('a'+i)), ns).Framework("mc").Offer("o1").Command("busybox").Obj()
			if err := env.Client.Create(ctx, tk); err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.path {
				tk.Status.State = s
				if err := env.Client.Status().Update(ctx, tk); err != nil {
					t.Fatalf("moving to %s: %v", s, err)
				}
			}
			tk.Status.State = tc.to
			expectErr(t, env.Client.Status().Update(ctx, tk), tc.wantErr)
		})
	}
}

func TestTaskStatusFields(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	cases := []struct {
		name    string
		status  kmv1.TaskStatus
		then    func(*kmv1.TaskStatus)
		wantErr string
	}{
		{name: "reason and source", status: kmv1.TaskStatus{State: kmv1.TaskError, Reason: kmv1.ReasonTaskInvalid, Source: kmv1.SourceMaster, Message: "offer o1 does not exist"}},
		{name: "bad reason", status: kmv1.TaskStatus{State: kmv1.TaskError, Reason: "bad reason"}, wantErr: "status.reason"},
		{name: "bad source", status: kmv1.TaskStatus{State: kmv1.TaskError, Source: "SOURCE_SCHEDULER"}, wantErr: "status.source"},
		{name: "terminal data is final", status: kmv1.TaskStatus{State: kmv1.TaskFinished, Data: "under=10"}, then: func(s *kmv1.TaskStatus) { s.Data = "under=11" }, wantErr: "the data of a terminal task cannot change"},
		{name: "terminal message may be amended", status: kmv1.TaskStatus{State: kmv1.TaskFinished, Data: "under=10"}, then: func(s *kmv1.TaskStatus) { s.Message = "acknowledged" }},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tk := b.MakeTask("sf"+string(rune('a'+i)), ns).Framework("mc").Offer("o1").Command("busybox").Obj()
			if err := env.Client.Create(ctx, tk); err != nil {
				t.Fatal(err)
			}
			tk.Status = tc.status
			err := env.Client.Status().Update(ctx, tk)
			if tc.then == nil {
				expectErr(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("setting the starting status: %v", err)
			}
			tc.then(&tk.Status)
			expectErr(t, env.Client.Status().Update(ctx, tk), tc.wantErr)
		})
	}
}

// TestTaskStatusMergePatchRace shows the registry's core promise under
// optimistic concurrency: a writer holding a stale RUNNING view cannot undo
// a terminal state that another writer stored first.
func TestTaskStatusStaleWriterRefused(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	tk := b.MakeTask("race", ns).Framework("mc").Offer("o1").Command("busybox").Obj()
	if err := env.Client.Create(ctx, tk); err != nil {
		t.Fatal(err)
	}
	tk.Status.State = kmv1.TaskRunning
	if err := env.Client.Status().Update(ctx, tk); err != nil {
		t.Fatal(err)
	}
	stale := tk.DeepCopy()
	tk.Status.State = kmv1.TaskFinished
	if err := env.Client.Status().Update(ctx, tk); err != nil {
		t.Fatal(err)
	}
	// Without a resourceVersion precondition the CEL rule still refuses it.
	patch := client.MergeFrom(stale.DeepCopy())
	stale.Status.State = kmv1.TaskKilling
	stale.Status.Message = "late kill"
	expectErr(t, env.Client.Status().Patch(ctx, stale, patch), "task state TASK_FINISHED is terminal")
	var got kmv1.Task
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(tk), &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.State != kmv1.TaskFinished {
		t.Fatalf("state is %s after the refused write, want TASK_FINISHED", got.Status.State)
	}
}

func TestOfferValidation(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	offer := func(name string) *b.OfferWrapper {
		return b.MakeOffer(name, ns).Framework("mc", "fw-1").Agent("ag-1", "node-1").Resources("cpu", "2", "memory", "1Gi")
	}
	cases := []struct {
		name    string
		offer   *kmv1.Offer
		wantErr string
	}{
		{name: "valid offer", offer: offer("ok").Obj()},
		{name: "negative memory", offer: offer("neg").Resources("memory", "-1Gi").Obj(), wantErr: "resource quantities must not be negative"},
		{name: "no agent", offer: b.MakeOffer("noagent", ns).Framework("mc", "fw-1").Resources("cpu", "1").Obj(), wantErr: "spec.agentID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectErr(t, env.Client.Create(ctx, tc.offer), tc.wantErr)
		})
	}

	t.Run("spec is immutable", func(t *testing.T) {
		o := offer("imm").Obj()
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		o.Spec.Resources["cpu"] = resource.MustParse("3")
		expectErr(t, env.Client.Update(ctx, o), "an offer is immutable")
	})
}

func TestAgentValidation(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		agent   *kmv1.Agent
		wantErr string
	}{
		{name: "valid agent", agent: b.MakeAgent("val-node-1").Resources("cpu", "4", "memory", "8Gi").Endpoint("127.0.0.2:5051").Obj()},
		{name: "name differs from nodeName", agent: b.MakeAgent("val-node-2").NodeName("other").Obj(), wantErr: "an Agent's name must equal spec.nodeName"},
		{name: "negative resources", agent: b.MakeAgent("val-node-3").Resources("cpu", "-4").Obj(), wantErr: "resource quantities must not be negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectErr(t, env.Client.Create(ctx, tc.agent), tc.wantErr)
		})
	}
}

func TestAgentIDRule(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		from    kmv1.AgentStatus
		to      kmv1.AgentStatus
		wantErr string
	}{
		{name: "admission assigns an ID", to: kmv1.AgentStatus{AgentID: "ag-1", Phase: kmv1.AgentActive}},
		{name: "an active agent keeps its ID", from: kmv1.AgentStatus{AgentID: "ag-1", Phase: kmv1.AgentActive}, to: kmv1.AgentStatus{AgentID: "ag-2", Phase: kmv1.AgentActive}, wantErr: "agentID changes only when the master re-admits an Unreachable or Gone agent"},
		{name: "re-admission after unreachable", from: kmv1.AgentStatus{AgentID: "ag-1", Phase: kmv1.AgentUnreachable}, to: kmv1.AgentStatus{AgentID: "ag-2", Phase: kmv1.AgentActive}},
		{name: "re-admission after gone", from: kmv1.AgentStatus{AgentID: "ag-1", Phase: kmv1.AgentGone}, to: kmv1.AgentStatus{AgentID: "ag-2", Phase: kmv1.AgentActive}},
		{name: "the ID is never removed", from: kmv1.AgentStatus{AgentID: "ag-1", Phase: kmv1.AgentUnreachable}, to: kmv1.AgentStatus{Phase: kmv1.AgentRegistering}, wantErr: "agentID cannot be removed once assigned"},
		{name: "unknown phase", to: kmv1.AgentStatus{Phase: "Up"}, wantErr: "status.phase: Unsupported value"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := b.MakeAgent("idrule-" + string(rune('a'+i))).Obj()
			if err := env.Client.Create(ctx, a); err != nil {
				t.Fatal(err)
			}
			if tc.from.AgentID != "" {
				a.Status = tc.from
				if err := env.Client.Status().Update(ctx, a); err != nil {
					t.Fatalf("setting the starting status: %v", err)
				}
			}
			a.Status = tc.to
			expectErr(t, env.Client.Status().Update(ctx, a), tc.wantErr)
		})
	}
}
