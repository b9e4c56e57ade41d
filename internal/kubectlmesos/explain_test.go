package kubectlmesos

import (
	"strings"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/controllers/allocator"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/builders"
)

func rules(e Explanation) []Rule {
	var out []Rule
	for _, r := range e.Reasons {
		out = append(out, r.Rule)
	}
	return out
}

func TestExplainFrameworkRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(f *FrameworkFacts)
		want []Rule
		// wantText must appear in the reasons' messages and details.
		wantText []string
	}{
		{name: "healthy", edit: func(*FrameworkFacts) {}, want: []Rule{RuleEligible}},
		{name: "completed", edit: func(f *FrameworkFacts) {
			f.Framework.Status.Phase = kmv1.FrameworkCompleted
			f.Framework.Status.CompletionTime = ptr.To(ago(time.Minute))
			f.Framework.Status.Result = "pi=3.14"
			f.Framework.Spec.SuppressOffers = true // not reported: done comes first and alone
		}, want: []Rule{RuleFrameworkDone}, wantText: []string{"Completed since 60s ago", "result: pi=3.14"}},
		{name: "failed", edit: func(f *FrameworkFacts) { f.Framework.Status.Phase = kmv1.FrameworkFailed },
			want: []Rule{RuleFrameworkDone}, wantText: []string{"it is Failed"}},
		{name: "being deleted", edit: func(f *FrameworkFacts) { f.Framework.DeletionTimestamp = ptr.To(ago(10 * time.Second)) },
			want: []Rule{RuleFrameworkDone}, wantText: []string{"torn down (deleted 10s ago)"}},
		{name: "not registered", edit: func(f *FrameworkFacts) {
			f.Framework.Status = kmv1.FrameworkStatus{Phase: kmv1.FrameworkPending}
			f.Frameworks = nil
		}, want: []Rule{RuleNotRegistered, RuleDisconnected}, wantText: []string{"has not registered it", "phase Pending"}},
		{name: "suppressed", edit: func(f *FrameworkFacts) { f.Framework.Spec.SuppressOffers = true },
			want: []Rule{RuleSuppressed}, wantText: []string{`"suppressOffers":false`}},
		{name: "disconnected with failover time left", edit: func(f *FrameworkFacts) {
			f.Framework.Status.Phase = kmv1.FrameworkDisconnected
			f.Framework.Spec.FailoverTimeoutSeconds = ptr.To[int32](60)
			f.Framework.Status.Conditions = []metav1.Condition{{Type: kmv1.FrameworkSchedulerConnected, Status: metav1.ConditionFalse,
				Reason: kmv1.ReasonSchedulerLeaseExpired, Message: "lease not renewed", LastTransitionTime: ago(20 * time.Second)}}
		}, want: []Rule{RuleDisconnected}, wantText: []string{"since 20s ago (SchedulerLeaseExpired)", "torn down in 40s", "lease not renewed"}},
		{name: "holds offers", edit: func(f *FrameworkFacts) {
			f.Offers = []kmv1.Offer{offer("me-n1-b", "team", "me", "n1", time.Minute, "cpu", "1"), offer("me-n1-a", "team", "me", "n1", 2*time.Minute, "cpu", "2")}
		}, want: []Rule{RuleHoldsOffers}, wantText: []string{"holds 2 outstanding", "offer me-n1-a on agent n1, 2m old: cpu 2"}},
		{name: "behind a framework of its role", edit: func(f *FrameworkFacts) {
			f.Frameworks = append(f.Frameworks, activeFw("small", "other", "*", "0.05"))
		}, want: []Rule{RuleBehindInDRF}, wantText: []string{"1 framework(s) of role * rank ahead", "framework other/small: dominant share 0.050"}},
		{name: "an equal share ranks by name", edit: func(f *FrameworkFacts) {
			f.Frameworks = append(f.Frameworks, activeFw("aaa", "team", "*", "0.1"), activeFw("zzz", "team", "*", "0.1"))
		}, want: []Rule{RuleBehindInDRF}, wantText: []string{"framework team/aaa"}},
		{name: "ineligible frameworks are not ahead", edit: func(f *FrameworkFacts) {
			s := activeFw("sup", "team", "*", "0")
			s.Spec.SuppressOffers = true
			d := activeFw("disc", "team", "*", "0")
			d.Status.Phase = kmv1.FrameworkDisconnected
			f.Frameworks = append(f.Frameworks, s, d, activeFw("heavy", "team", "*", "0.9"))
		}, want: []Rule{RuleEligible}},
		{name: "behind a role by weighted share", edit: func(f *FrameworkFacts) {
			f.Frameworks = append(f.Frameworks, activeFw("a", "data", "eng/batch", "0.15"))
			f.Weights = map[string]float64{"eng": 2}
		}, want: []Rule{RuleBehindInDRF}, wantText: []string{"role eng/batch: weighted share 0.075 (weight 2)"}},
		{name: "a heavier weight of its own role keeps it first", edit: func(f *FrameworkFacts) {
			f.Frameworks = append(f.Frameworks, activeFw("a", "data", "eng", "0.15"))
			f.Weights = map[string]float64{"*": 4}
		}, want: []Rule{RuleEligible}},
		{name: "no agent fits the last task", edit: func(f *FrameworkFacts) {
			f.Agents = []kmv1.Agent{
				agent("n1", kmv1.AgentActive, cpuMem("4", "8Gi"), cpuMem("3500m", "1Gi"), nil),
				agent("n2", kmv1.AgentActive, cpuMem("4", "8Gi"), cpuMem("3", "7Gi"), cpuMem("0", "512Mi")),
			}
		}, want: []Rule{RuleNoAgentFits}, wantText: []string{"last task t1 used (cpu 1, memory 1Gi)", "closest: agent n1 needs cpu 500m more", "agent n2: free cpu 1, memory 512Mi; needs memory 512Mi more"}},
		{name: "its own offer counts as free for it", edit: func(f *FrameworkFacts) {
			f.Agents = []kmv1.Agent{agent("n1", kmv1.AgentActive, cpuMem("4", "8Gi"), cpuMem("2", "1Gi"), cpuMem("2", "7Gi"))}
			f.Offers = []kmv1.Offer{offer("me-n1-a", "team", "me", "n1", time.Minute, "cpu", "2", "memory", "7Gi")}
		}, want: []Rule{RuleHoldsOffers}},
		{name: "no agent has the minimum free", edit: func(f *FrameworkFacts) {
			f.LastTask = nil
			f.Agents = []kmv1.Agent{agent("n1", kmv1.AgentActive, cpuMem("4", "8Gi"), cpuMem("4", "7Gi"), cpuMem("0", "1000Mi"))}
		}, want: []Rule{RuleNoAgentFree}, wantText: []string{"agent n1: free cpu 0, memory 24Mi"}},
		{name: "without a task, one free agent is enough", edit: func(f *FrameworkFacts) { f.LastTask = nil }, want: []Rule{RuleEligible}},
		{name: "an unreachable agent", edit: func(f *FrameworkFacts) {
			a := agent("n9", kmv1.AgentUnreachable, cpuMem("4", "8Gi"), nil, nil)
			a.Status.UnreachableTime = ptr.To(ago(3 * time.Minute))
			f.Agents = append(f.Agents, a, agent("n8", "", cpuMem("1", "1Gi"), nil, nil))
		}, want: []Rule{RuleAgentsUnavailable}, wantText: []string{"2 of 3 agents are not active", "agent n8: not admitted", "agent n9: Unreachable since 3m ago"}},
		{name: "no agent at all", edit: func(f *FrameworkFacts) { f.Agents = nil },
			want: []Rule{RuleAgentsUnavailable}, wantText: []string{"no agent at all"}},
		{name: "no active agent", edit: func(f *FrameworkFacts) { f.Agents[0].Status.Phase = kmv1.AgentGone },
			want: []Rule{RuleAgentsUnavailable}, wantText: []string{"no agent is active: all 1"}},
		{name: "hidden agents check nothing", edit: func(f *FrameworkFacts) { f.Agents, f.AgentsHidden = nil, "forbidden" },
			want: []Rule{RuleEligible}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := healthyFramework()
			tc.edit(&f)
			e := ExplainFramework(f)
			if diff := cmp.Diff(tc.want, rules(e)); diff != "" {
				t.Fatalf("rules (-want +got):\n%s\n%+v", diff, e.Reasons)
			}
			text := explanationText(e)
			for _, w := range tc.wantText {
				if !strings.Contains(text, w) {
					t.Errorf("explanation lacks %q:\n%s", w, text)
				}
			}
		})
	}
}

func explanationText(e Explanation) string {
	var b strings.Builder
	for _, r := range e.Reasons {
		b.WriteString(r.Message + "\n" + strings.Join(r.Details, "\n") + "\n")
	}
	for _, n := range e.Notes {
		b.WriteString("note: " + n + "\n")
	}
	return b.String()
}

// TestExplainFrameworkOrder makes every rule fire at once and checks they
// come in the master's order.
func TestExplainFrameworkOrder(t *testing.T) {
	f := healthyFramework()
	f.Framework.Spec.SuppressOffers = true
	f.Framework.Status.Phase = kmv1.FrameworkDisconnected
	f.Framework.Status.FrameworkID = ""
	f.Offers = []kmv1.Offer{offer("me-n2-a", "team", "me", "n2", time.Minute, "cpu", "1m")}
	f.Frameworks = append(f.Frameworks, activeFw("first", "team", "*", "0"))
	f.Agents = []kmv1.Agent{agent("n1", kmv1.AgentActive, cpuMem("4", "8Gi"), cpuMem("4", "8Gi"), nil), agent("n2", kmv1.AgentUnreachable, cpuMem("4", "8Gi"), nil, nil)}
	f.Filters = []DeclineFilter{{AgentID: "n2-id", Until: now.Add(time.Minute)}}
	want := []Rule{RuleNotRegistered, RuleSuppressed, RuleDisconnected, RuleHoldsOffers, RuleDeclineFiltered, RuleBehindInDRF, RuleNoAgentFits, RuleAgentsUnavailable}
	if diff := cmp.Diff(want, rules(ExplainFramework(f))); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestExplainFrameworkNotes(t *testing.T) {
	f := healthyFramework()
	f.Framework.Spec.OfferFilters = &kmv1.OfferFilters{RefuseSeconds: ptr.To[int32](30)}
	f.FrameworksHidden = "listing frameworks in all namespaces is forbidden to you"
	f.AgentsHidden = "listing agents (cluster-scoped) is forbidden to you"
	f.WeightsKnown = false
	f.FiltersHidden = "the master's console answered 503 Service Unavailable: No leader elected."
	text := explanationText(ExplainFramework(f))
	for _, w := range []string{"decline filters are not shown (only the leading master holds them, and its console serves them): the master's console answered 503 Service Unavailable: No leader elected. Each declined (deleted) offer", "for 30s", "frameworks of other namespaces are not visible", "agents are not visible", "role weights are unknown"} {
		if !strings.Contains(text, w) {
			t.Errorf("notes lack %q:\n%s", w, text)
		}
	}
}

// TestExplainFrameworkNoFilterNote: filters read (none) leave no note.
func TestExplainFrameworkNoFilterNote(t *testing.T) {
	if text := explanationText(ExplainFramework(healthyFramework())); strings.Contains(text, "decline filters") {
		t.Errorf("filters were read, yet a note says they are not shown:\n%s", text)
	}
}

// filter is a decline filter of agent node (node-id) that ends in d.
func filter(node string, d time.Duration) DeclineFilter {
	return DeclineFilter{AgentID: node + "-id", Node: node, Until: now.Add(d)}
}

func TestExplainFrameworkDeclineFilters(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(f *FrameworkFacts)
		want []Rule
		// wantText must appear in the reasons' messages and details, and
		// notText must not.
		wantText, notText []string
	}{
		{name: "every active agent refused", edit: func(f *FrameworkFacts) {
			f.Filters = []DeclineFilter{filter("n1", 4*time.Minute)}
		}, want: []Rule{RuleDeclineFiltered}, wantText: []string{
			"it declined offers of every active agent (1) and refuses them all until their decline filters end: nothing is offered to it before 12:04:00Z (in 4m)",
			"agent n1 until 12:04:00Z (in 4m)", "filters its agent for this framework for 5s",
		}},
		{name: "an unrefused agent has room", edit: func(f *FrameworkFacts) {
			f.Agents = append(f.Agents, agent("n2", kmv1.AgentActive, cpuMem("4", "8Gi"), nil, nil))
			f.Filters = []DeclineFilter{filter("n2", 30*time.Second)}
		}, want: []Rule{RuleDeclineFiltered}, wantText: []string{"it declined offers of 1 agent(s) and refuses them until their decline filters end, the first at 12:00:30Z (in 30s)"}},
		{name: "the refused agent is the one with room", edit: func(f *FrameworkFacts) {
			f.Agents = []kmv1.Agent{
				agent("n1", kmv1.AgentActive, cpuMem("4", "8Gi"), nil, nil),
				agent("n2", kmv1.AgentActive, cpuMem("4", "8Gi"), cpuMem("3500m", "1Gi"), nil),
			}
			f.Filters = []DeclineFilter{filter("n1", time.Minute)}
		}, want: []Rule{RuleDeclineFiltered, RuleNoAgentFits}, wantText: []string{
			"of the 1 active agent(s) it does not refuse, none has free what its last task t1 used (cpu 1, memory 1Gi); closest: agent n2 needs cpu 500m more",
		}, notText: []string{"agent n1: free"}},
		{name: "no task: the refused agent does not count as free", edit: func(f *FrameworkFacts) {
			f.LastTask = nil
			f.Agents = []kmv1.Agent{
				agent("n1", kmv1.AgentActive, cpuMem("4", "8Gi"), nil, nil),
				agent("n2", kmv1.AgentActive, cpuMem("4", "8Gi"), cpuMem("4", "8Gi"), nil),
			}
			f.Filters = []DeclineFilter{filter("n1", time.Minute)}
		}, want: []Rule{RuleDeclineFiltered, RuleNoAgentFree}, wantText: []string{
			"of the 1 active agent(s) it does not refuse, none has free the least the master offers", "agent n2: free cpu 0, memory 0",
		}, notText: []string{"agent n1: free"}},
		{name: "ended filters are ignored", edit: func(f *FrameworkFacts) {
			f.Filters = []DeclineFilter{filter("n1", -time.Second), filter("n1", 0)}
		}, want: []Rule{RuleEligible}},
		{name: "an ended filter beside a live one", edit: func(f *FrameworkFacts) {
			f.Agents = append(f.Agents, agent("n2", kmv1.AgentActive, cpuMem("4", "8Gi"), nil, nil))
			f.Filters = []DeclineFilter{filter("n1", -time.Minute), filter("n2", time.Minute)}
		}, want: []Rule{RuleDeclineFiltered}, wantText: []string{"declined offers of 1 agent(s)", "agent n2 until 12:01:00Z"}, notText: []string{"agent n1 until"}},
		{name: "hidden filters are not used", edit: func(f *FrameworkFacts) {
			f.Filters = []DeclineFilter{filter("n1", time.Minute)}
			f.FiltersHidden = "the console is not installed"
		}, want: []Rule{RuleEligible}, wantText: []string{"note: decline filters are not shown"}},
		{name: "nearest end first, a few listed", edit: func(f *FrameworkFacts) {
			f.Filters = []DeclineFilter{
				filter("n7", 7*time.Minute), filter("n2", 2*time.Minute), filter("n6", 6*time.Minute), filter("n1", time.Minute),
				filter("n5", 5*time.Minute), filter("n4", 4*time.Minute), filter("n3", 3*time.Minute),
			}
		}, want: []Rule{RuleDeclineFiltered}, wantText: []string{
			"every active agent (1)", "before 12:01:00Z (in 60s)",
			"agent n1 until 12:01:00Z (in 60s)\nagent n2 until 12:02:00Z (in 2m)\nagent n3 until 12:03:00Z (in 3m)\nagent n4 until 12:04:00Z (in 4m)\nagent n5 until 12:05:00Z (in 5m)\n2 more agent(s)\n",
		}, notText: []string{"agent n6", "agent n7"}},
		{name: "an agent named from the registry, or by its agentID", edit: func(f *FrameworkFacts) {
			f.Filters = []DeclineFilter{{AgentID: "n1-id", Until: now.Add(time.Minute)}, {AgentID: "gone-id", Until: now.Add(2 * time.Minute)}}
		}, want: []Rule{RuleDeclineFiltered}, wantText: []string{"agent n1 until 12:01:00Z", "agent with agentID gone-id until 12:02:00Z", "every active agent (1)"}},
		{name: "a filter past today shows its date", edit: func(f *FrameworkFacts) {
			f.Framework.Spec.OfferFilters = &kmv1.OfferFilters{RefuseSeconds: ptr.To[int32](86400)}
			f.Filters = []DeclineFilter{filter("n1", 20*time.Hour)}
		}, want: []Rule{RuleDeclineFiltered}, wantText: []string{"before 2026-11-27T08:00:00Z (in 20h)", "for 86400s"}},
		{name: "hidden agents: counted, not called all", edit: func(f *FrameworkFacts) {
			f.Agents, f.AgentsHidden = nil, "forbidden"
			f.Filters = []DeclineFilter{filter("n1", time.Minute)}
		}, want: []Rule{RuleDeclineFiltered}, wantText: []string{"declined offers of 1 agent(s)", "agent n1 until"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := healthyFramework()
			tc.edit(&f)
			e := ExplainFramework(f)
			if diff := cmp.Diff(tc.want, rules(e)); diff != "" {
				t.Fatalf("rules (-want +got):\n%s\n%+v", diff, e.Reasons)
			}
			text := explanationText(e)
			for _, w := range tc.wantText {
				if !strings.Contains(text, w) {
					t.Errorf("explanation lacks %q:\n%s", w, text)
				}
			}
			for _, w := range tc.notText {
				if strings.Contains(text, w) {
					t.Errorf("explanation has %q:\n%s", w, text)
				}
			}
		})
	}
}

// TestClockTime: an end on now's day is a time of day; one on another day
// (a filter set just before midnight) carries its date.
func TestClockTime(t *testing.T) {
	now := time.Date(2026, 11, 27, 23, 58, 54, 0, time.UTC)
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{now.Add(time.Minute), "23:59:54Z"},
		{now.Add(10 * time.Minute), "2026-11-28T00:08:54Z"},
		{now.AddDate(1, 0, 0), "2027-11-27T23:58:54Z"},
		{now.In(time.FixedZone("UTC+2", 2*3600)).Add(time.Second), "23:58:55Z"},
	} {
		if got := clockTime(now, tc.at); got != tc.want {
			t.Errorf("clockTime(%s) = %q, want %q", tc.at, got, tc.want)
		}
	}
}

func TestExplainTaskRules(t *testing.T) {
	for _, tc := range []struct {
		name     string
		edit     func(f *TaskFacts)
		want     []Rule
		wantText []string
	}{
		{name: "refused by the master", edit: func(f *TaskFacts) {
			f.Task.Status = kmv1.TaskStatus{State: kmv1.TaskError, Reason: kmv1.ReasonTaskInvalid, Source: kmv1.SourceMaster, Message: "cpu 9 does not fit the offers", CompletionTime: ptr.To(ago(time.Minute))}
			f.Task.Spec.Kill = true // not reported: a terminal task says how it ended, alone
		}, want: []Rule{RuleRefused}, wantText: []string{"refused it 60s ago: TASK_ERROR (REASON_TASK_INVALID, from SOURCE_MASTER)", "message: cpu 9 does not fit"}},
		{name: "dropped", edit: func(f *TaskFacts) {
			f.Task.Status = kmv1.TaskStatus{State: kmv1.TaskDropped, Reason: kmv1.ReasonInvalidOffers, Source: kmv1.SourceMaster}
		}, want: []Rule{RuleRefused}},
		{name: "failed", edit: func(f *TaskFacts) {
			f.Task.Status = kmv1.TaskStatus{State: kmv1.TaskFailed, Reason: kmv1.ReasonCommandExecutorFailed, Source: kmv1.SourceAgent, Message: "exit 2", NodeName: "n1", Data: "oops"}
		}, want: []Rule{RuleEnded}, wantText: []string{"TASK_FAILED (REASON_COMMAND_EXECUTOR_FAILED, from SOURCE_AGENT)", "message: exit 2", "data: oops", "agent: n1"}},
		{name: "not admitted, its offer gone", edit: func(f *TaskFacts) {
			f.Task.Status = kmv1.TaskStatus{}
			f.MissingOffers = []string{"me-n1-abcde"}
			f.Framework.Status.FrameworkID = ""
		}, want: []Rule{RuleNotAdmitted}, wantText: []string{"has not admitted it against its offers me-n1-abcde", "offer me-n1-abcde no longer exists", "framework me is not registered"}},
		{name: "not admitted, no framework", edit: func(f *TaskFacts) { f.Task.Status = kmv1.TaskStatus{}; f.Framework = nil },
			want: []Rule{RuleNotAdmitted}, wantText: []string{"framework me does not exist"}},
		{name: "kill pending", edit: func(f *TaskFacts) {
			f.Task.Spec.Kill = true
			f.Task.Spec.KillGracePeriodSeconds = ptr.To[int64](30)
			f.Task.Status.State = kmv1.TaskRunning
			f.Pod = pod("me-exec-1", corev1.PodRunning)
		}, want: []Rule{RuleKillPending, RuleRunning}, wantText: []string{"a kill is pending", "grace period of 30s"}},
		{name: "agent unreachable", edit: func(f *TaskFacts) {
			f.Agent.Status.Phase = kmv1.AgentUnreachable
			f.Agent.Status.UnreachableTime = ptr.To(ago(time.Minute))
			f.Pod = pod("me-exec-1", corev1.PodRunning)
			f.Task.Status.State = kmv1.TaskRunning
		}, want: []Rule{RuleAgentUnreachable, RuleRunning}, wantText: []string{"agent n1 is Unreachable since 60s ago", "TASK_LOST"}},
		{name: "agent admitted again", edit: func(f *TaskFacts) { f.Agent.Status.AgentID = "n1-id2" },
			want: []Rule{RuleAgentUnreachable, RuleWaitingForAgent}, wantText: []string{"admitted again as n1-id2", "old agentID n1-id"}},
		{name: "waiting for the agent", edit: func(*TaskFacts) {},
			want: []Rule{RuleWaitingForAgent}, wantText: []string{"staged on agent n1 since 2m ago", "spec.nodeName=n1"}},
		{name: "pod pending on its image", edit: func(f *TaskFacts) {
			f.Pod = pod("me-exec-1", corev1.PodPending)
			f.Pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "executor", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image example/executor:1"}}}}
			f.Pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady"}}
			f.Events = []corev1.Event{
				{InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "me-exec-1"}, Type: corev1.EventTypeWarning, Reason: "Failed", Message: "pull access denied", LastTimestamp: ago(time.Minute)},
				{InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "me-exec-1"}, Type: corev1.EventTypeNormal, Reason: "Pulling", Message: "pulling"},
			}
		}, want: []Rule{RulePodPending}, wantText: []string{"pod me-exec-1 is Pending", "container executor: ImagePullBackOff: Back-off pulling", "condition ContainersReady: ContainersNotReady", "event Failed: pull access denied"}},
		{name: "pod ended", edit: func(f *TaskFacts) {
			f.Task.Status.State = kmv1.TaskRunning
			f.Pod = pod("me-exec-1", corev1.PodFailed)
			f.Pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "executor", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}}}
		}, want: []Rule{RulePodEnded, RuleRunning}, wantText: []string{"pod me-exec-1 is Failed", "exit code 137, OOMKilled"}},
		{name: "executor not subscribed", edit: func(f *TaskFacts) { f.Pod = pod("me-exec-1", corev1.PodRunning) },
			want: []Rule{RuleExecutorNotSubscribed}, wantText: []string{"executor exec-1 runs in pod me-exec-1", "REASON_EXECUTOR_REGISTRATION_TIMEOUT", "kubectl mesos logs t1 -n team"}},
		{name: "a command task has no subscription", edit: func(f *TaskFacts) {
			f.Task.Spec.Executor, f.Task.Spec.Command = nil, &kmv1.CommandInfo{Image: "busybox"}
			f.Pod = pod("task-t1", corev1.PodRunning)
		}, want: nil},
		{name: "starting", edit: func(f *TaskFacts) {
			f.Task.Status.State, f.Task.Status.PodName = kmv1.TaskStarting, "me-exec-1"
			f.Pod = pod("me-exec-1", corev1.PodRunning)
		}, want: []Rule{RuleStarting}},
		{name: "running", edit: func(f *TaskFacts) {
			f.Task.Status.State, f.Task.Status.PodName, f.Task.Status.StartTime = kmv1.TaskRunning, "me-exec-1", ptr.To(ago(time.Minute))
			f.Task.Status.Healthy = ptr.To(false)
			f.Pod = pod("me-exec-1", corev1.PodRunning)
		}, want: []Rule{RuleRunning}, wantText: []string{"it runs for 60s on agent n1 (pod me-exec-1)", "health check fails"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := stagedTask()
			tc.edit(&f)
			e := ExplainTask(f)
			if diff := cmp.Diff(tc.want, rules(e)); diff != "" {
				t.Fatalf("rules (-want +got):\n%s\n%+v", diff, e.Reasons)
			}
			text := explanationText(e)
			for _, w := range tc.wantText {
				if !strings.Contains(text, w) {
					t.Errorf("explanation lacks %q:\n%s", w, text)
				}
			}
		})
	}
}

// TestExplainTaskOrder makes the live-task rules fire together.
func TestExplainTaskOrder(t *testing.T) {
	f := stagedTask()
	f.Task.Spec.Kill = true
	f.Agent.Status.Phase = kmv1.AgentUnreachable
	f.Pod = pod("me-exec-1", corev1.PodPending)
	want := []Rule{RuleKillPending, RuleAgentUnreachable, RulePodPending}
	if diff := cmp.Diff(want, rules(ExplainTask(f))); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	f = stagedTask()
	f.Task.Status = kmv1.TaskStatus{}
	f.Task.Spec.Kill = true
	want = []Rule{RuleNotAdmitted, RuleKillPending}
	if diff := cmp.Diff(want, rules(ExplainTask(f))); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestBuildStatusAndTop(t *testing.T) {
	_, cf := starvedWorld()
	s := BuildStatus(cf)
	var phases []string
	for _, a := range s.Agents {
		phases = append(phases, a.Phase)
	}
	if diff := cmp.Diff([]string{"Active", "Unreachable"}, phases); diff != "" {
		t.Errorf("agent phases (-want +got):\n%s", diff)
	}
	free := s.Agents[0].Free["cpu"]
	if got := free.String(); got != "500m" {
		t.Errorf("free cpu of the active agents = %s, want 500m", got)
	}
	var roles []string
	for _, r := range s.Roles {
		roles = append(roles, r.Name)
	}
	// eng/batch: 0.1 / 2 = 0.05 ranks before *: 0.6 + 0.5 + 0.2.
	if diff := cmp.Diff([]string{"eng/batch", "*"}, roles); diff != "" {
		t.Errorf("roles in DRF order (-want +got):\n%s", diff)
	}
	top := BuildTop(cf)
	if top.Frameworks[0].Name != "web" || top.Frameworks[0].CPUFraction != 0.5 {
		t.Errorf("top framework = %+v, want web at 50%% of 8 active cpus", top.Frameworks[0])
	}
	if top.Roles[0].Name != "*" {
		t.Errorf("top role = %s, want *", top.Roles[0].Name)
	}
}

func TestParseRoleWeights(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    map[string]float64
		wantErr bool
	}{
		{in: "", want: map[string]float64{}},
		{in: "prod=3,dev=1", want: map[string]float64{"prod": 3, "dev": 1}},
		{in: " eng/batch = 0.5 ", want: map[string]float64{"eng/batch": 0.5}},
		{in: "prod", wantErr: true},
		{in: "=2", wantErr: true},
		{in: "prod=0", wantErr: true},
		{in: "prod=-1", wantErr: true},
		{in: "prod=NaN", wantErr: true},
		{in: "prod=Inf", wantErr: true},
	} {
		got, err := ParseRoleWeights(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseRoleWeights(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if diff := cmp.Diff(tc.want, got); !tc.wantErr && diff != "" {
			t.Errorf("ParseRoleWeights(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func FuzzParseRoleWeights(f *testing.F) {
	for _, s := range []string{"", "prod=3,dev=1", "a=1e308", "x=", ",", "eng/batch=0.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseRoleWeights(s)
		if err != nil {
			return
		}
		for role, v := range w {
			if role == "" || !(v > 0) {
				t.Errorf("ParseRoleWeights(%q) accepted role %q weight %v", s, role, v)
			}
			if got := allocator.Weight(w, role); got != v {
				t.Errorf("allocator.Weight(%q) = %v, want %v", role, got, v)
			}
		}
	})
}

func TestWeightsFromPod(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Args: []string{"master", "--role-weights=prod=3,dev=1"}}}}}
	w, ok := weightsFromPod(p)
	if !ok || w["prod"] != 3 || w["dev"] != 1 {
		t.Errorf("weightsFromPod = %v, %v; want prod=3 dev=1", w, ok)
	}
	p.Spec.Containers[0].Args = []string{"master", "--role-weights", "eng=2"}
	if w, ok := weightsFromPod(p); !ok || w["eng"] != 2 {
		t.Errorf("weightsFromPod (separate value) = %v, %v", w, ok)
	}
	p.Spec.Containers[0].Args = []string{"master"}
	if w, ok := weightsFromPod(p); !ok || len(w) != 0 {
		t.Errorf("weightsFromPod without the flag = %v, %v; want none, known", w, ok)
	}
	if got := allocator.Weight(map[string]float64{"eng": 2}, "eng/batch/x"); got != 2 {
		t.Errorf("allocator.Weight inherits %v, want 2", got)
	}
}

func TestParseRef(t *testing.T) {
	for in, want := range map[string][2]string{"web": {"", "web"}, "framework/web": {"Framework", "web"}, "mtask/t1": {"Task", "t1"}, "tasks/t1": {"Task", "t1"}} {
		k, n, err := parseRef(in)
		if err != nil || k != want[0] || n != want[1] {
			t.Errorf("parseRef(%q) = %q, %q, %v; want %q", in, k, n, err, want)
		}
	}
	if _, _, err := parseRef("pod/x"); err == nil {
		t.Error("parseRef(pod/x) accepted another kind")
	}
}

func TestShortfallAndFree(t *testing.T) {
	missing, gap := shortfall(builders.Resources("cpu", "2", "memory", "1Gi"), builders.Resources("cpu", "500m", "memory", "2Gi"))
	if got := formatResources(missing); got != "cpu 1500m" || gap != 0.75 {
		t.Errorf("shortfall = %s, %v; want cpu 1500m, 0.75", got, gap)
	}
	a := agent("n1", kmv1.AgentActive, cpuMem("1", "1Gi"), cpuMem("2", "512Mi"), nil)
	if got := formatResources(freeOf(&a)); got != "cpu 0, memory 512Mi" {
		t.Errorf("freeOf = %s, want cpu 0, memory 512Mi (never below zero)", got)
	}
}
