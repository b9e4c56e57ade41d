// Package kubectlmesos is the kubectl plugin `kubectl mesos`: it reads the
// kubemesos objects (Agents, Frameworks, Tasks, Offers) with the user's own
// kubeconfig and rights, and explains them: the cluster at a glance, why a
// framework gets no offers, why a task does not run, usage by framework and
// role. It also kills tasks and streams their logs. The one thing it reads
// elsewhere is a framework's decline filters, which only the leading master
// holds: from the master's console (declinefilters.go).
//
// The explanations are pure functions of objects (explain_framework.go,
// explain_task.go), so that every rule is tested without a cluster; the
// commands (commands.go) gather those objects and print the result as a
// table or as the documented JSON/YAML shapes of this file.
package kubectlmesos

import (
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// APIVersion is the apiVersion of every document that -o json|yaml prints.
// The shapes below are stable: fields are added, never renamed or removed.
const APIVersion = "kubemesos.io/v1alpha1"

// Kinds of the printed documents.
const (
	// KindExplanation is the kind of `why`'s document.
	KindExplanation = "Explanation"
	// KindStatus is the kind of `status`'s document.
	KindStatus = "Status"
	// KindOfferList is the kind of `offers`'s document.
	KindOfferList = "OfferList"
	// KindTop is the kind of `top`'s document.
	KindTop = "Top"
)

// Rule names one explanation rule. Scripts match on it; the message is for
// people and may change.
type Rule string

// Rules of `why FRAMEWORK`, in the order they are checked.
const (
	// RuleFrameworkDone: the framework is Completed, Failed or being torn
	// down; it gets no offers ever again.
	RuleFrameworkDone Rule = "FrameworkDone"
	// RuleNotRegistered: the master has not registered the framework yet.
	RuleNotRegistered Rule = "NotRegistered"
	// RuleSuppressed: spec.suppressOffers is true.
	RuleSuppressed Rule = "Suppressed"
	// RuleDisconnected: the framework's scheduler does not hold its Lease.
	RuleDisconnected Rule = "Disconnected"
	// RuleHoldsOffers: the framework holds outstanding offers; an agent it
	// holds an offer on is not offered to it again.
	RuleHoldsOffers Rule = "HoldsOffers"
	// RuleDeclineFiltered: the framework declined offers of agents and
	// refuses them until its decline filters end (read from the master's
	// console).
	RuleDeclineFiltered Rule = "DeclineFiltered"
	// RuleBehindInDRF: eligible frameworks rank ahead of it in DRF order.
	RuleBehindInDRF Rule = "BehindInDRF"
	// RuleNoAgentFits: no active agent (that it does not refuse) has free
	// what its last task used.
	RuleNoAgentFits Rule = "NoAgentFits"
	// RuleNoAgentFree: no active agent (that it does not refuse) has the
	// least that is offered free.
	RuleNoAgentFree Rule = "NoAgentFree"
	// RuleAgentsUnavailable: agents are Unreachable, Gone, Draining or not
	// yet admitted.
	RuleAgentsUnavailable Rule = "AgentsUnavailable"
	// RuleEligible: nothing visible keeps offers from the framework.
	RuleEligible Rule = "Eligible"
)

// Rules of `why TASK`, in the order they are checked.
const (
	// RuleRefused: the master refused the task (TASK_ERROR or TASK_DROPPED).
	RuleRefused Rule = "Refused"
	// RuleEnded: the task reached another terminal state.
	RuleEnded Rule = "Ended"
	// RuleNotAdmitted: the master has not admitted the task yet.
	RuleNotAdmitted Rule = "NotAdmitted"
	// RuleKillPending: spec.kill is set and the task is not terminal yet.
	RuleKillPending Rule = "KillPending"
	// RuleAgentUnreachable: the task's agent is Unreachable or Gone, or was
	// admitted again under another agentID.
	RuleAgentUnreachable Rule = "AgentUnreachable"
	// RuleWaitingForAgent: the task is staged and its agent has not
	// created its pod yet.
	RuleWaitingForAgent Rule = "WaitingForAgent"
	// RulePodPending: the task's pod is Pending; the details say why.
	RulePodPending Rule = "PodPending"
	// RulePodEnded: the task's pod ended or is being deleted while the task
	// is not terminal yet.
	RulePodEnded Rule = "PodEnded"
	// RuleExecutorNotSubscribed: the custom executor's pod runs, but the
	// task is still staged: the executor has not subscribed to the agent.
	RuleExecutorNotSubscribed Rule = "ExecutorNotSubscribed"
	// RuleStarting: the executor is starting the task.
	RuleStarting Rule = "Starting"
	// RuleRunning: the task runs.
	RuleRunning Rule = "Running"
)

// Subject is the object an Explanation is about.
type Subject struct {
	// Kind is Framework or Task.
	Kind string `json:"kind"`
	// Namespace and Name are the object's.
	Namespace string `json:"namespace"`
	// Name is the object's name.
	Name string `json:"name"`
	// Phase is a framework's status.phase or a task's status.state.
	Phase string `json:"phase,omitempty"`
}

// Reason is one rule that fired, with what it found.
type Reason struct {
	// Rule names the rule.
	Rule Rule `json:"rule"`
	// Message says what the rule found, in one sentence.
	Message string `json:"message"`
	// Details are the rule's particulars, one line each: offers, frameworks
	// ahead, agents and their shortfalls, pod conditions and events.
	Details []string `json:"details,omitempty"`
}

// Explanation is what `why` prints: the rules that fired, the first being
// the main reason, and notes on what the API does not show.
type Explanation struct {
	// APIVersion is APIVersion.
	APIVersion string `json:"apiVersion"`
	// Kind is KindExplanation.
	Kind string `json:"kind"`
	// Subject is the framework or task explained.
	Subject Subject `json:"subject"`
	// Reasons are the rules that fired, in the order they are checked.
	Reasons []Reason `json:"reasons"`
	// Notes say what could not be seen, and why.
	Notes []string `json:"notes,omitempty"`
}

// AgentSummary sums the agents of one phase.
type AgentSummary struct {
	// Phase is the agents' status.phase ("" for not yet admitted).
	Phase string `json:"phase"`
	// Count is how many agents are in that phase.
	Count int `json:"count"`
	// Total is the sum of their spec.resources.
	Total kmv1.ResourceList `json:"total,omitempty"`
	// Allocated is the sum of their status.allocated.
	Allocated kmv1.ResourceList `json:"allocated,omitempty"`
	// Offered is the sum of their status.offered.
	Offered kmv1.ResourceList `json:"offered,omitempty"`
	// Free is Total − Allocated − Offered, per agent never below zero.
	Free kmv1.ResourceList `json:"free,omitempty"`
}

// FrameworkSummary is one framework in `status`.
type FrameworkSummary struct {
	// Namespace and Name are the Framework's.
	Namespace string `json:"namespace"`
	// Name is the Framework's name.
	Name string `json:"name"`
	// Role is spec.role.
	Role string `json:"role"`
	// Phase is status.phase.
	Phase string `json:"phase,omitempty"`
	// Suppressed is spec.suppressOffers.
	Suppressed bool `json:"suppressed,omitempty"`
	// DominantShare is status.dominantShare as a number, 0 when unset.
	DominantShare float64 `json:"dominantShare"`
	// TasksRunning counts its TASK_RUNNING tasks.
	TasksRunning int32 `json:"tasksRunning"`
	// TasksTotal counts its tasks in any state.
	TasksTotal int32 `json:"tasksTotal"`
	// OutstandingOffers is status.outstandingOffers.
	OutstandingOffers int32 `json:"outstandingOffers"`
	// Allocated is status.allocated.
	Allocated kmv1.ResourceList `json:"allocated,omitempty"`
}

// RoleSummary is one role in `status` and `top`.
type RoleSummary struct {
	// Name is the role.
	Name string `json:"name"`
	// Weight is the role's DRF weight: as the master is configured when
	// WeightsKnown, else 1.
	Weight float64 `json:"weight"`
	// Frameworks counts the visible frameworks of the role.
	Frameworks int `json:"frameworks"`
	// Share is the sum of their dominant shares.
	Share float64 `json:"share"`
	// WeightedShare is Share / Weight, the order of roles in DRF.
	WeightedShare float64 `json:"weightedShare"`
	// Allocated is the sum of their status.allocated.
	Allocated kmv1.ResourceList `json:"allocated,omitempty"`
}

// Status is what `status` prints.
type Status struct {
	// APIVersion is APIVersion.
	APIVersion string `json:"apiVersion"`
	// Kind is KindStatus.
	Kind string `json:"kind"`
	// Agents sums the agents by phase, Active first.
	Agents []AgentSummary `json:"agents"`
	// Frameworks are the visible frameworks by namespace and name.
	Frameworks []FrameworkSummary `json:"frameworks"`
	// Roles are the roles of the visible frameworks, in DRF order.
	Roles []RoleSummary `json:"roles"`
	// WeightsKnown is true when the role weights were read from the
	// master or given with --role-weights.
	WeightsKnown bool `json:"weightsKnown"`
	// Notes say what could not be seen, and why.
	Notes []string `json:"notes,omitempty"`
}

// OfferSummary is one outstanding offer.
type OfferSummary struct {
	// Namespace and Name are the Offer's.
	Namespace string `json:"namespace"`
	// Name is the Offer's name.
	Name string `json:"name"`
	// Framework is spec.framework.
	Framework string `json:"framework"`
	// Agent is spec.nodeName, the Agent's name.
	Agent string `json:"agent"`
	// AgentID is spec.agentID.
	AgentID string `json:"agentID"`
	// Resources are spec.resources.
	Resources kmv1.ResourceList `json:"resources"`
	// AgeSeconds is how long the offer has been outstanding.
	AgeSeconds int64 `json:"ageSeconds"`
}

// OfferList is what `offers` prints.
type OfferList struct {
	// APIVersion is APIVersion.
	APIVersion string `json:"apiVersion"`
	// Kind is KindOfferList.
	Kind string `json:"kind"`
	// Items are the offers, by namespace, framework and agent.
	Items []OfferSummary `json:"items"`
}

// Usage is one line of `top`.
type Usage struct {
	// Namespace is the framework's; empty for a role.
	Namespace string `json:"namespace,omitempty"`
	// Name is the framework's name or the role.
	Name string `json:"name"`
	// Role is the framework's role; empty for a role.
	Role string `json:"role,omitempty"`
	// Allocated is what its live tasks hold.
	Allocated kmv1.ResourceList `json:"allocated,omitempty"`
	// CPUFraction and MemoryFraction are Allocated's cpu and memory over
	// the active agents' total, between 0 and 1.
	CPUFraction float64 `json:"cpuFraction"`
	// MemoryFraction is Allocated's memory over the active agents' memory.
	MemoryFraction float64 `json:"memoryFraction"`
	// Share is the dominant share (summed over a role's frameworks).
	Share float64 `json:"share"`
}

// Top is what `top` prints.
type Top struct {
	// APIVersion is APIVersion.
	APIVersion string `json:"apiVersion"`
	// Kind is KindTop.
	Kind string `json:"kind"`
	// Capacity is the active agents' total.
	Capacity kmv1.ResourceList `json:"capacity,omitempty"`
	// Frameworks are by allocated cpu, most first.
	Frameworks []Usage `json:"frameworks"`
	// Roles are by allocated cpu, most first.
	Roles []Usage `json:"roles"`
	// Notes say what could not be seen, and why.
	Notes []string `json:"notes,omitempty"`
}
