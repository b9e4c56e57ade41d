package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TaskState is the Mesos state of a task.
//
// +kubebuilder:validation:Enum=TASK_STAGING;TASK_STARTING;TASK_RUNNING;TASK_KILLING;TASK_FINISHED;TASK_FAILED;TASK_KILLED;TASK_ERROR;TASK_LOST;TASK_DROPPED
type TaskState string

// Task states, as in Mesos. The first four are live; the rest are terminal
// and never change again.
const (
	// TaskStaging: the master admitted the task onto its offers; the agent
	// has not started it yet.
	TaskStaging TaskState = "TASK_STAGING"
	// TaskStarting: the executor is starting the task.
	TaskStarting TaskState = "TASK_STARTING"
	// TaskRunning: the task runs.
	TaskRunning TaskState = "TASK_RUNNING"
	// TaskKilling: the executor received a kill and is stopping the task.
	TaskKilling TaskState = "TASK_KILLING"
	// TaskFinished: the task ended successfully. Terminal.
	TaskFinished TaskState = "TASK_FINISHED"
	// TaskFailed: the task ended with an error. Terminal.
	TaskFailed TaskState = "TASK_FAILED"
	// TaskKilled: the task was killed. Terminal.
	TaskKilled TaskState = "TASK_KILLED"
	// TaskError: the task description was invalid. Terminal.
	TaskError TaskState = "TASK_ERROR"
	// TaskLost: the task's agent was lost. Terminal.
	TaskLost TaskState = "TASK_LOST"
	// TaskDropped: the task never started, for example because its offer
	// was rescinded. Terminal.
	TaskDropped TaskState = "TASK_DROPPED"
)

// IsTerminal reports whether s is a terminal state, one that never changes.
func (s TaskState) IsTerminal() bool {
	switch s {
	case TaskFinished, TaskFailed, TaskKilled, TaskError, TaskLost, TaskDropped:
		return true
	}
	return false
}

// Rank orders the states: STAGING < STARTING < RUNNING < KILLING < terminal.
// A task's state never moves to a lower rank; the CRD enforces the same
// order. The empty state (not yet admitted) has rank -1.
func (s TaskState) Rank() int {
	switch s {
	case TaskStaging:
		return 0
	case TaskStarting:
		return 1
	case TaskRunning:
		return 2
	case TaskKilling:
		return 3
	case "":
		return -1
	}
	return 4
}

// TaskSource says which component produced a task's status.
//
// +kubebuilder:validation:Enum=SOURCE_MASTER;SOURCE_AGENT;SOURCE_EXECUTOR
type TaskSource string

// Status sources, as in Mesos.
const (
	// SourceMaster: the master wrote the status (STAGING, ERROR, DROPPED, LOST).
	SourceMaster TaskSource = "SOURCE_MASTER"
	// SourceAgent: the agent wrote the status, for example from the state
	// of a command task's pod.
	SourceAgent TaskSource = "SOURCE_AGENT"
	// SourceExecutor: the executor sent the status through the agent.
	SourceExecutor TaskSource = "SOURCE_EXECUTOR"
)

// TaskReason is the Mesos reason of a task status, REASON_*.
//
// +kubebuilder:validation:MaxLength=64
// +kubebuilder:validation:Pattern=`^REASON_[A-Z0-9_]+$`
type TaskReason string

// Task status reasons, a subset of Mesos's TaskStatus.Reason.
const (
	// ReasonTaskInvalid: the task failed admission; the message says why.
	ReasonTaskInvalid TaskReason = "REASON_TASK_INVALID"
	// ReasonInvalidOffers: the task named offers that are unknown, already
	// used or rescinded.
	ReasonInvalidOffers TaskReason = "REASON_INVALID_OFFERS"
	// ReasonAgentRemoved: the task's agent became unreachable and was removed.
	ReasonAgentRemoved TaskReason = "REASON_AGENT_REMOVED"
	// ReasonAgentRestarted: the agent restarted and did not find the task.
	ReasonAgentRestarted TaskReason = "REASON_AGENT_RESTARTED"
	// ReasonExecutorTerminated: the executor pod ended before the task did.
	ReasonExecutorTerminated TaskReason = "REASON_EXECUTOR_TERMINATED"
	// ReasonExecutorRegistrationTimeout: the executor did not subscribe in time.
	ReasonExecutorRegistrationTimeout TaskReason = "REASON_EXECUTOR_REGISTRATION_TIMEOUT"
	// ReasonExecutorReregistrationTimeout: the executor, subscribed once,
	// did not subscribe again in time after the agent restarted or its
	// stream ended.
	ReasonExecutorReregistrationTimeout TaskReason = "REASON_EXECUTOR_REREGISTRATION_TIMEOUT"
	// ReasonCommandExecutorFailed: a command task's container failed.
	ReasonCommandExecutorFailed TaskReason = "REASON_COMMAND_EXECUTOR_FAILED"
	// ReasonContainerLaunchFailed: the executor pod could not be created.
	ReasonContainerLaunchFailed TaskReason = "REASON_CONTAINER_LAUNCH_FAILED"
	// ReasonFrameworkRemoved: the framework was torn down.
	ReasonFrameworkRemoved TaskReason = "REASON_FRAMEWORK_REMOVED"
	// ReasonTaskKilledDuringLaunch: the task was killed before it started.
	ReasonTaskKilledDuringLaunch TaskReason = "REASON_TASK_KILLED_DURING_LAUNCH"
	// ReasonTaskGroupInvalid: the task's group could not be launched
	// whole; the message says why.
	ReasonTaskGroupInvalid TaskReason = "REASON_TASK_GROUP_INVALID"
	// ReasonReconciliation: the status was produced by task reconciliation.
	ReasonReconciliation TaskReason = "REASON_RECONCILIATION"
)

// CommandInfo runs a task with the built-in command executor: one pod per task.
type CommandInfo struct {
	// image is the container image of the task's pod.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`
	// command is the entrypoint; the image's when empty.
	//
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=4096
	// +optional
	Command []string `json:"command,omitempty"`
	// args are the arguments of the command.
	//
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=4096
	// +optional
	Args []string `json:"args,omitempty"`
	// env is added to the task's container.
	//
	// +kubebuilder:validation:MaxItems=128
	// +optional
	Env []EnvVar `json:"env,omitempty"`
}

// EnvVar is an environment variable with a literal value.
type EnvVar struct {
	// name of the variable.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z][-._a-zA-Z0-9]*$`
	Name string `json:"name"`
	// value of the variable.
	//
	// +kubebuilder:validation:MaxLength=32768
	// +optional
	Value string `json:"value,omitempty"`
}

// ExecutorInfo runs a task on a custom executor: one pod per (framework,
// executorID), which can run many tasks.
type ExecutorInfo struct {
	// executorID names the executor within its framework. Tasks with the
	// same executorID on one agent share one executor pod. It takes what a
	// Mesos executor ID may be: up to 255 characters, no control character, no
	// '/' or '\', not "." or "..". The executor pod's name and label are
	// derived from it; the ID itself is the pod's
	// kubemesos.io/executor-id annotation and its MESOS_EXECUTOR_ID.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[^/\\\x00-\x1F\x7F]+$`
	// +kubebuilder:validation:XValidation:rule="self != '.' && self != '..'",message="executorID must not be '.' or '..'"
	ExecutorID string `json:"executorID"`
	// image is the container image of the executor pod.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`
	// command is the executor's entrypoint; the image's when empty.
	//
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=4096
	// +optional
	Command []string `json:"command,omitempty"`
	// args are the arguments of the executor.
	//
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=4096
	// +optional
	Args []string `json:"args,omitempty"`
	// env is added to the executor's container.
	//
	// +kubebuilder:validation:MaxItems=128
	// +optional
	Env []EnvVar `json:"env,omitempty"`
	// resources are what the executor itself uses, beside its tasks.
	//
	// +optional
	Resources ResourceList `json:"resources,omitempty"`
}

// TaskSpec describes a task that a framework launches on offers. It cannot
// change once created, except that kill may be set to true.
//
// +kubebuilder:validation:XValidation:rule="has(self.command) != has(self.executor)",message="exactly one of command or executor must be set"
// +kubebuilder:validation:XValidation:rule="self.framework == oldSelf.framework",message="framework is immutable"
// +kubebuilder:validation:XValidation:rule="self.offerIDs == oldSelf.offerIDs",message="offerIDs is immutable"
// +kubebuilder:validation:XValidation:rule="has(self.agentID) == has(oldSelf.agentID) && (!has(self.agentID) || self.agentID == oldSelf.agentID)",message="agentID is immutable"
// +kubebuilder:validation:XValidation:rule="has(self.resources) == has(oldSelf.resources) && (!has(self.resources) || self.resources == oldSelf.resources)",message="resources is immutable"
// +kubebuilder:validation:XValidation:rule="has(self.command) == has(oldSelf.command) && (!has(self.command) || self.command == oldSelf.command)",message="command is immutable"
// +kubebuilder:validation:XValidation:rule="has(self.executor) == has(oldSelf.executor) && (!has(self.executor) || self.executor == oldSelf.executor)",message="executor is immutable"
// +kubebuilder:validation:XValidation:rule="has(self.ports) == has(oldSelf.ports) && (!has(self.ports) || self.ports == oldSelf.ports)",message="ports is immutable"
// +kubebuilder:validation:XValidation:rule="has(self.data) == has(oldSelf.data) && (!has(self.data) || self.data == oldSelf.data)",message="data is immutable"
// +kubebuilder:validation:XValidation:rule="has(self.killGracePeriodSeconds) == has(oldSelf.killGracePeriodSeconds) && (!has(self.killGracePeriodSeconds) || self.killGracePeriodSeconds == oldSelf.killGracePeriodSeconds)",message="killGracePeriodSeconds is immutable"
// +kubebuilder:validation:XValidation:rule="!(has(oldSelf.kill) && oldSelf.kill) || (has(self.kill) && self.kill)",message="kill cannot be unset once true"
type TaskSpec struct {
	// framework is the name of the Framework that launches the task, in the
	// same namespace.
	Framework ObjectName `json:"framework"`

	// offerIDs are the names of the Offers that the task uses. They must
	// belong to the framework and be on one agent.
	//
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	// +listType=atomic
	OfferIDs []string `json:"offerIDs"`

	// agentID is the agent of the offers, copied from them.
	//
	// +kubebuilder:validation:MaxLength=128
	// +optional
	AgentID string `json:"agentID,omitempty"`

	// resources are what the task uses: cpu, memory and extended resources.
	//
	// +optional
	Resources ResourceList `json:"resources,omitempty"`

	// ports are the port ranges of its agent that the task (and the
	// executor it starts) holds, taken from the `ports` of its offers by a
	// framework of the Mesos API; resources["kubemesos.io/ports"] (with
	// executor.resources) counts them. No two live tasks of an agent hold
	// one port. The executor pod is not given them: it has its own
	// network namespace.
	//
	// +kubebuilder:validation:MaxItems=256
	// +listType=atomic
	// +optional
	Ports []PortRange `json:"ports,omitempty"`

	// command runs the task with the built-in command executor.
	//
	// +optional
	Command *CommandInfo `json:"command,omitempty"`

	// executor runs the task on a custom executor.
	//
	// +optional
	Executor *ExecutorInfo `json:"executor,omitempty"`

	// data is an opaque payload handed to the executor with the task.
	//
	// +kubebuilder:validation:MaxLength=65536
	// +optional
	Data string `json:"data,omitempty"`

	// killGracePeriodSeconds is how long a killed task has to stop before
	// it is killed forcibly. The pod's default applies when unset.
	//
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	// +optional
	KillGracePeriodSeconds *int64 `json:"killGracePeriodSeconds,omitempty"`

	// kill asks the agent to kill the task. Once true it stays true.
	//
	// +optional
	Kill bool `json:"kill,omitempty"`
}

// TaskStatus is the registry's record of a task. The master writes STAGING,
// ERROR, DROPPED and LOST; the agent writes the rest. A terminal state never
// changes again, and no state moves backwards.
//
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.state) || has(self.state)",message="state cannot be removed once set"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.state) || !(oldSelf.state in ['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED']) || self.state == oldSelf.state",messageExpression="'task state ' + oldSelf.state + ' is terminal and cannot change to ' + self.state"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.state) || !has(self.state) || {'TASK_STAGING': 0, 'TASK_STARTING': 1, 'TASK_RUNNING': 2, 'TASK_KILLING': 3}[?self.state].orValue(4) >= {'TASK_STAGING': 0, 'TASK_STARTING': 1, 'TASK_RUNNING': 2, 'TASK_KILLING': 3}[?oldSelf.state].orValue(4)",messageExpression="'task state cannot move backwards from ' + oldSelf.state + ' to ' + self.state"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.data) || !has(oldSelf.state) || !(oldSelf.state in ['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED']) || (has(self.data) && self.data == oldSelf.data)",message="the data of a terminal task cannot change"
type TaskStatus struct {
	// state is the task's Mesos state.
	//
	// +optional
	State TaskState `json:"state,omitempty"`

	// reason is the Mesos reason of the latest status, REASON_*.
	//
	// +optional
	Reason TaskReason `json:"reason,omitempty"`

	// source says who produced the latest status.
	//
	// +optional
	Source TaskSource `json:"source,omitempty"`

	// message explains the latest status for people.
	//
	// +kubebuilder:validation:MaxLength=32768
	// +optional
	Message string `json:"message,omitempty"`

	// data is what the executor reported with the latest status, such as
	// the task's result.
	//
	// +kubebuilder:validation:MaxLength=65536
	// +optional
	Data string `json:"data,omitempty"`

	// agentID is the agent that runs the task.
	//
	// +kubebuilder:validation:MaxLength=128
	// +optional
	AgentID string `json:"agentID,omitempty"`

	// nodeName is the node of that agent, which is also the Agent's name.
	//
	// +kubebuilder:validation:MaxLength=253
	// +optional
	NodeName string `json:"nodeName,omitempty"`

	// executorID is the executor that runs the task: spec.executor's
	// executorID (up to 255 characters), or the task's name for a command
	// task.
	//
	// +kubebuilder:validation:MaxLength=255
	// +optional
	ExecutorID string `json:"executorID,omitempty"`

	// podName is the executor pod that runs the task.
	//
	// +kubebuilder:validation:MaxLength=253
	// +optional
	PodName string `json:"podName,omitempty"`

	// healthy is the result of the task's health check, when it has one.
	//
	// +optional
	Healthy *bool `json:"healthy,omitempty"`

	// stagingTime is when the master admitted the task.
	//
	// +optional
	StagingTime *metav1.Time `json:"stagingTime,omitempty"`

	// startTime is when the task became TASK_RUNNING.
	//
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the task reached a terminal state.
	//
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// lastUpdateTime is when the latest status was written.
	//
	// +optional
	LastUpdateTime *metav1.Time `json:"lastUpdateTime,omitempty"`
}

// Task is a unit of work that a framework launches on offers. Its name is
// the Mesos task ID.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mtask,categories=kubemesos
// +kubebuilder:printcolumn:name="Framework",type=string,JSONPath=`.spec.framework`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="Agent",type=string,JSONPath=`.status.nodeName`
// +kubebuilder:printcolumn:name="Data",type=string,JSONPath=`.status.data`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.reason`,priority=1
// +kubebuilder:printcolumn:name="Agent-ID",type=string,JSONPath=`.status.agentID`,priority=1
// +kubebuilder:printcolumn:name="Pod",type=string,JSONPath=`.status.podName`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
// +kubebuilder:selectablefield:JSONPath=`.spec.framework`
// +kubebuilder:selectablefield:JSONPath=`.spec.agentID`
// +kubebuilder:selectablefield:JSONPath=`.status.state`
// +kubebuilder:selectablefield:JSONPath=`.status.nodeName`
type Task struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec describes the task. It is immutable, except kill.
	Spec TaskSpec `json:"spec"`
	// status is the registry's record of the task.
	// +optional
	Status TaskStatus `json:"status,omitempty"`
}

// TaskList is a list of Tasks.
//
// +kubebuilder:object:root=true
type TaskList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Task `json:"items"`
}

// EnvVars converts literal environment variables to the pod API's form.
func EnvVars(env []EnvVar) []corev1.EnvVar {
	out := make([]corev1.EnvVar, 0, len(env))
	for _, e := range env {
		out = append(out, corev1.EnvVar{Name: e.Name, Value: e.Value})
	}
	return out
}

func init() {
	SchemeBuilder.Register(&Task{}, &TaskList{})
}

// ExecutorRef names an executor on an agent: a custom executor by its
// executorID, or a command task's own executor by the task's name. It is
// the one identity that the master, the agent and the executor API share.
type ExecutorRef struct {
	// Namespace and Framework are the framework's.
	Namespace, Framework string
	// ExecutorID is the executor's ID within the framework.
	ExecutorID string
}

// String is namespace/framework/executorID.
func (r ExecutorRef) String() string { return r.Namespace + "/" + r.Framework + "/" + r.ExecutorID }

// PlacedOn returns the agentID the task runs on: the one admission
// recorded in its status, else the one its spec asks for.
func (t *Task) PlacedOn() string {
	if t.Status.AgentID != "" {
		return t.Status.AgentID
	}
	return t.Spec.AgentID
}

// Executor returns the executor that runs t: spec.executor's, or for a
// command task one of its own, named after the task.
func (t *Task) Executor() ExecutorRef {
	id := t.Name
	if t.Spec.Executor != nil {
		id = t.Spec.Executor.ExecutorID
	}
	return ExecutorRef{Namespace: t.Namespace, Framework: string(t.Spec.Framework), ExecutorID: id}
}
