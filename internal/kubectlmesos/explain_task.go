package kubectlmesos

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// TaskFacts is what `why TASK` knows.
type TaskFacts struct {
	// Task is the task explained.
	Task *kmv1.Task
	// Framework is the task's framework; nil when it does not exist.
	Framework *kmv1.Framework
	// Agent is the Agent the task is placed on; nil when there is none (or
	// the task is not placed yet).
	Agent *kmv1.Agent
	// AgentHidden is set when the Agent could not be read; it says why.
	AgentHidden string
	// MissingOffers are the offers the task names that no longer exist.
	MissingOffers []string
	// Pod is the task's executor pod; nil when there is none.
	Pod *corev1.Pod
	// PodHidden is set when the pod could not be read; it says why.
	PodHidden string
	// Events are the Events about the task and its pod.
	Events []corev1.Event
	// Now is the time the explanation is made at.
	Now time.Time
}

// ExplainTask says why a task does not run, or how it ended: every rule
// that fires, in order.
func ExplainTask(f TaskFacts) Explanation {
	t := f.Task
	e := Explanation{APIVersion: APIVersion, Kind: KindExplanation,
		Subject: Subject{Kind: "Task", Namespace: t.Namespace, Name: t.Name, Phase: string(t.Status.State)}}
	if t.Status.State.IsTerminal() {
		e.Reasons = append(e.Reasons, ended(f))
		return e
	}
	for _, rule := range []func(TaskFacts) (Reason, bool){
		notAdmitted, killPending, agentUnreachable, waitingForAgent, podPending, podEnded, executorNotSubscribed, progressing,
	} {
		if r, ok := rule(f); ok {
			e.Reasons = append(e.Reasons, r)
		}
	}
	if f.AgentHidden != "" {
		e.Notes = append(e.Notes, "its agent is not visible: "+f.AgentHidden)
	}
	if f.PodHidden != "" {
		e.Notes = append(e.Notes, "its pod is not visible: "+f.PodHidden)
	}
	if t.Spec.Executor != nil && t.Status.State == kmv1.TaskStaging {
		e.Notes = append(e.Notes, "which executors are subscribed is kept in the agent's memory only; a staged task on a running executor pod means it has not subscribed, or the launch is in flight")
	}
	return e
}

// statusLine prints a task's latest status: "TASK_FAILED (REASON_X, from
// SOURCE_AGENT)".
func statusLine(t *kmv1.Task) string {
	var extra []string
	if t.Status.Reason != "" {
		extra = append(extra, string(t.Status.Reason))
	}
	if t.Status.Source != "" {
		extra = append(extra, "from "+string(t.Status.Source))
	}
	s := string(t.Status.State)
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	return s
}

func ended(f TaskFacts) Reason {
	t := f.Task
	when := ""
	if t.Status.CompletionTime != nil {
		when = fmt.Sprintf(" %s ago", age(f.Now, t.Status.CompletionTime.Time))
	}
	r := Reason{Rule: RuleEnded, Message: fmt.Sprintf("it ended%s: %s", when, statusLine(t))}
	if t.Status.Source == kmv1.SourceMaster && (t.Status.State == kmv1.TaskError || t.Status.State == kmv1.TaskDropped) {
		r = Reason{Rule: RuleRefused, Message: fmt.Sprintf("the master refused it%s: %s", when, statusLine(t))}
	}
	if t.Status.Message != "" {
		r.Details = append(r.Details, "message: "+t.Status.Message)
	}
	if t.Status.Data != "" {
		r.Details = append(r.Details, "data: "+t.Status.Data)
	}
	if t.Status.NodeName != "" {
		r.Details = append(r.Details, "agent: "+t.Status.NodeName)
	}
	return r
}

func notAdmitted(f TaskFacts) (Reason, bool) {
	t := f.Task
	if t.Status.State != "" {
		return Reason{}, false
	}
	r := Reason{Rule: RuleNotAdmitted, Message: fmt.Sprintf("the master has not admitted it against its offers %s yet (created %s ago)", strings.Join(t.Spec.OfferIDs, ", "), age(f.Now, t.CreationTimestamp.Time))}
	for _, o := range f.MissingOffers {
		r.Details = append(r.Details, fmt.Sprintf("offer %s no longer exists: the master will mark the task TASK_DROPPED or TASK_ERROR", o))
	}
	switch {
	case f.Framework == nil:
		r.Details = append(r.Details, fmt.Sprintf("its framework %s does not exist in namespace %s", t.Spec.Framework, t.Namespace))
	case f.Framework.Status.FrameworkID == "":
		r.Details = append(r.Details, fmt.Sprintf("its framework %s is not registered: is the kubemesos master running?", t.Spec.Framework))
	}
	return r, true
}

func killPending(f TaskFacts) (Reason, bool) {
	t := f.Task
	if !t.Spec.Kill {
		return Reason{}, false
	}
	r := Reason{Rule: RuleKillPending, Message: fmt.Sprintf("a kill is pending (spec.kill is true); the task is still %s", cmp.Or(string(t.Status.State), "not admitted"))}
	if t.Status.State == kmv1.TaskKilling {
		r.Details = append(r.Details, "the executor received the kill and is stopping the task")
	} else if t.Status.State != "" {
		grace := "the pod's default grace period"
		if t.Spec.KillGracePeriodSeconds != nil {
			grace = fmt.Sprintf("a grace period of %ds", *t.Spec.KillGracePeriodSeconds)
		}
		r.Details = append(r.Details, fmt.Sprintf("its agent %s kills it with %s, then reports TASK_KILLED", cmp.Or(t.Status.NodeName, t.PlacedOn()), grace))
	}
	return r, true
}

func agentUnreachable(f TaskFacts) (Reason, bool) {
	t, a := f.Task, f.Agent
	if t.Status.State == "" || a == nil {
		return Reason{}, false
	}
	switch {
	case a.Status.Phase == kmv1.AgentUnreachable || a.Status.Phase == kmv1.AgentGone:
		msg := fmt.Sprintf("its agent %s is %s", a.Name, a.Status.Phase)
		if a.Status.UnreachableTime != nil {
			msg += fmt.Sprintf(" since %s ago", age(f.Now, a.Status.UnreachableTime.Time))
		}
		r := Reason{Rule: RuleAgentUnreachable, Message: msg + ": the master marks its live tasks TASK_LOST (REASON_AGENT_REMOVED)"}
		if a.Status.Message != "" {
			r.Details = append(r.Details, a.Status.Message)
		}
		return r, true
	case a.Status.AgentID != "" && t.PlacedOn() != "" && a.Status.AgentID != t.PlacedOn():
		return Reason{Rule: RuleAgentUnreachable, Message: fmt.Sprintf("its agent %s was admitted again as %s; the task belongs to its old agentID %s, which is not trusted with its tasks: it becomes TASK_LOST", a.Name, a.Status.AgentID, t.PlacedOn())}, true
	case a.Status.Phase == kmv1.AgentDraining:
		return Reason{Rule: RuleAgentUnreachable, Message: fmt.Sprintf("its agent %s is Draining: running tasks go on, new ones are not taken", a.Name)}, true
	}
	return Reason{}, false
}

func waitingForAgent(f TaskFacts) (Reason, bool) {
	t := f.Task
	if t.Status.State != kmv1.TaskStaging || f.Pod != nil || f.PodHidden != "" {
		return Reason{}, false
	}
	since := t.CreationTimestamp.Time
	if t.Status.StagingTime != nil {
		since = t.Status.StagingTime.Time
	}
	return Reason{Rule: RuleWaitingForAgent, Message: fmt.Sprintf("it is staged on agent %s since %s ago, and the agent has not created its pod yet: is the kubemesos agent on that node running? kubectl get pods -A -l %s=agent --field-selector spec.nodeName=%s", cmp.Or(t.Status.NodeName, t.PlacedOn()), age(f.Now, since), kmv1.LabelComponent, cmp.Or(t.Status.NodeName, "NODE"))}, true
}

// podEvents returns the Warning events about the pod, newest last.
func podEvents(f TaskFacts) []string {
	var evs []corev1.Event
	for _, e := range f.Events {
		if e.Type == corev1.EventTypeWarning && f.Pod != nil && e.InvolvedObject.Kind == "Pod" && e.InvolvedObject.Name == f.Pod.Name {
			evs = append(evs, e)
		}
	}
	slices.SortStableFunc(evs, func(a, b corev1.Event) int { return eventTime(a).Compare(eventTime(b)) })
	if len(evs) > maxDetails {
		evs = evs[len(evs)-maxDetails:]
	}
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("event %s: %s", e.Reason, e.Message))
	}
	return out
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func podPending(f TaskFacts) (Reason, bool) {
	p := f.Pod
	if p == nil || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodPending {
		return Reason{}, false
	}
	r := Reason{Rule: RulePodPending, Message: fmt.Sprintf("its pod %s is Pending (created %s ago)", p.Name, age(f.Now, p.CreationTimestamp.Time))}
	for _, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			line := fmt.Sprintf("container %s: %s", cs.Name, w.Reason)
			if w.Message != "" {
				line += ": " + w.Message
			}
			r.Details = append(r.Details, line)
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Status == corev1.ConditionFalse && (c.Reason != "" || c.Message != "") {
			r.Details = append(r.Details, strings.TrimSuffix(fmt.Sprintf("condition %s: %s %s", c.Type, c.Reason, c.Message), " "))
		}
	}
	r.Details = append(r.Details, podEvents(f)...)
	return r, true
}

func podEnded(f TaskFacts) (Reason, bool) {
	p := f.Pod
	if p == nil || p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
		return Reason{}, false
	}
	what := string(p.Status.Phase)
	if p.DeletionTimestamp != nil {
		what = "being deleted"
	}
	r := Reason{Rule: RulePodEnded, Message: fmt.Sprintf("its pod %s is %s and the agent has not reported the task's end yet", p.Name, what)}
	for _, cs := range p.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil {
			r.Details = append(r.Details, strings.TrimSuffix(fmt.Sprintf("container %s: exit code %d, %s %s", cs.Name, t.ExitCode, t.Reason, t.Message), " "))
		}
	}
	if p.Status.Message != "" {
		r.Details = append(r.Details, "pod: "+p.Status.Message)
	}
	r.Details = append(r.Details, podEvents(f)...)
	return r, true
}

func executorNotSubscribed(f TaskFacts) (Reason, bool) {
	t, p := f.Task, f.Pod
	if t.Spec.Executor == nil || t.Status.State != kmv1.TaskStaging || p == nil || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return Reason{}, false
	}
	return Reason{Rule: RuleExecutorNotSubscribed, Message: fmt.Sprintf("its executor %s runs in pod %s (created %s ago) but has not subscribed to the agent, so the task is not launched on it; the agent fails the task with REASON_EXECUTOR_REGISTRATION_TIMEOUT when its --executor-registration-timeout passes", t.Spec.Executor.ExecutorID, p.Name, age(f.Now, p.CreationTimestamp.Time)),
		Details: []string{fmt.Sprintf("see what the executor does: kubectl mesos logs %s -n %s", t.Name, t.Namespace)}}, true
}

// where says where a task runs: "agent n1 (pod p)".
func where(f TaskFacts) string {
	s := "agent " + cmp.Or(f.Task.Status.NodeName, f.Task.PlacedOn())
	pod := f.Task.Status.PodName
	if pod == "" && f.Pod != nil {
		pod = f.Pod.Name
	}
	if pod != "" {
		s += " (pod " + pod + ")"
	}
	return s
}

func progressing(f TaskFacts) (Reason, bool) {
	t := f.Task
	switch t.Status.State {
	case kmv1.TaskStarting:
		return Reason{Rule: RuleStarting, Message: "its executor is starting it on " + where(f)}, true
	case kmv1.TaskRunning:
		since := ""
		if t.Status.StartTime != nil {
			since = fmt.Sprintf(" for %s", age(f.Now, t.Status.StartTime.Time))
		}
		r := Reason{Rule: RuleRunning, Message: fmt.Sprintf("it runs%s on %s", since, where(f))}
		if t.Status.Healthy != nil && !*t.Status.Healthy {
			r.Details = append(r.Details, "its health check fails")
		}
		return r, true
	}
	return Reason{}, false
}
