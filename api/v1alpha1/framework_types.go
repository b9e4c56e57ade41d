package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FrameworkPhase is the Mesos-style lifecycle phase of a Framework.
//
// +kubebuilder:validation:Enum=Pending;Active;Disconnected;Completed;Failed;TearingDown
type FrameworkPhase string

// Framework phases.
const (
	// FrameworkPending: the master has not yet registered the framework, or
	// its scheduler has never connected.
	FrameworkPending FrameworkPhase = "Pending"
	// FrameworkActive: the scheduler holds its Lease and receives offers.
	FrameworkActive FrameworkPhase = "Active"
	// FrameworkDisconnected: the scheduler Lease is missing or expired. No
	// offers are made; tasks keep running until failoverTimeoutSeconds.
	FrameworkDisconnected FrameworkPhase = "Disconnected"
	// FrameworkCompleted: the scheduler completed the framework with a result.
	FrameworkCompleted FrameworkPhase = "Completed"
	// FrameworkFailed: the framework was torn down after a failure, for
	// example a scheduler that stayed away past its failover timeout.
	FrameworkFailed FrameworkPhase = "Failed"
	// FrameworkTearingDown: the Framework is being deleted; its tasks are
	// being killed.
	FrameworkTearingDown FrameworkPhase = "TearingDown"
)

// Framework condition types.
const (
	// FrameworkRegistered is true once the master has assigned a frameworkID.
	FrameworkRegistered = "Registered"
	// FrameworkSchedulerConnected is true while a scheduler holds the
	// framework's scheduler Lease.
	FrameworkSchedulerConnected = "SchedulerConnected"
	// FrameworkSucceeded is true when the scheduler completed the framework
	// with a result, and false when the framework failed.
	FrameworkSucceeded = "Succeeded"
	// FrameworkReady is true while the framework is Active and receiving
	// offers.
	FrameworkReady = "Ready"
)

// Framework condition reasons. Each is one CamelCase word.
const (
	// ReasonFrameworkAdded: the master registered the framework.
	ReasonFrameworkAdded = "FrameworkAdded"
	// ReasonSchedulerLeaseHeld: a scheduler holds the Lease.
	ReasonSchedulerLeaseHeld = "SchedulerLeaseHeld"
	// ReasonSchedulerLeaseExpired: the scheduler Lease was not renewed.
	ReasonSchedulerLeaseExpired = "SchedulerLeaseExpired"
	// ReasonSchedulerNeverConnected: no scheduler has held the Lease yet.
	ReasonSchedulerNeverConnected = "SchedulerNeverConnected"
	// ReasonFailoverTimeout: the scheduler stayed away past failoverTimeoutSeconds.
	ReasonFailoverTimeout = "FailoverTimeout"
	// ReasonCompletedByScheduler: the scheduler completed the framework.
	ReasonCompletedByScheduler = "CompletedByScheduler"
	// ReasonFailedByScheduler: the scheduler failed the framework, for
	// example on invalid parameters.
	ReasonFailedByScheduler = "FailedByScheduler"
	// ReasonDeleted: the Framework object is being deleted.
	ReasonDeleted = "Deleted"
)

// OfferFilters are the default filters for offers that the scheduler
// declines by deleting them.
type OfferFilters struct {
	// refuseSeconds is how long a declined (framework, agent) pair is
	// filtered before the agent's resources are offered to the framework
	// again. Mesos's default is 5 seconds.
	//
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	// +optional
	RefuseSeconds *int32 `json:"refuseSeconds,omitempty"`
}

// SchedulerSpec describes the framework's scheduler, which the master runs
// as the pod <framework>-scheduler in the framework's namespace. It holds
// only what cannot give that pod more than its namespace allows any pod:
// the master builds the pod itself, with Pod Security's "restricted"
// security context, no host namespaces, no volumes of its own and no node
// of the framework's choosing. Setting it requires the right to create pods
// in the namespace (a ValidatingAdmissionPolicy that the chart installs
// checks it), since the scheduler runs as one of the namespace's
// ServiceAccounts.
type SchedulerSpec struct {
	// image is the scheduler's container image.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`

	// imagePullPolicy is the container's pull policy: Always, IfNotPresent
	// or Never. Kubernetes's default applies when it is empty.
	//
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// command is the scheduler's entrypoint; the image's when empty.
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

	// env is added to the scheduler's container, beside KUBEMESOS_FRAMEWORK
	// and KUBEMESOS_NAMESPACE, which the master sets.
	//
	// +kubebuilder:validation:MaxItems=128
	// +optional
	Env []EnvVar `json:"env,omitempty"`

	// resources are the container's requests and limits.
	//
	// +optional
	Resources SchedulerResources `json:"resources,omitempty"`

	// serviceAccountName is the ServiceAccount of the framework's
	// namespace that the scheduler runs as; "default" when empty. It needs
	// the rights of the kubemesos-scheduler ClusterRole in the namespace.
	//
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
}

// SchedulerResources are the requests and limits of the scheduler's
// container.
type SchedulerResources struct {
	// requests are what kube-scheduler reserves for the scheduler.
	//
	// +optional
	Requests ResourceList `json:"requests,omitempty"`
	// limits cap what the scheduler may use.
	//
	// +optional
	Limits ResourceList `json:"limits,omitempty"`
}

// FrameworkSpec is what a framework asks of the master.
type FrameworkSpec struct {
	// role is the role under which the framework receives offers. Roles are
	// ordered by weighted dominant share. "*" is the default role. A role is
	// "*" or DNS-1123 labels joined by "/", such as "eng/batch".
	//
	// +kubebuilder:default="*"
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$`
	// +optional
	Role string `json:"role,omitempty"`

	// failoverTimeoutSeconds is how long the framework's tasks outlive a
	// scheduler that stopped renewing its Lease. After that the framework
	// is torn down: its tasks are killed and it becomes Failed. Mesos's
	// default is 0; kubemesos defaults to 60 so that a restarted scheduler
	// pod finds its tasks still running.
	//
	// +kubebuilder:default=60
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=31536000
	// +optional
	FailoverTimeoutSeconds *int32 `json:"failoverTimeoutSeconds,omitempty"`

	// suppressOffers stops offers to this framework while true, as Mesos's
	// suppressOffers call does. Setting it back to false revives offers.
	//
	// +optional
	SuppressOffers bool `json:"suppressOffers,omitempty"`

	// offerFilters are the default filters for declined offers.
	//
	// +kubebuilder:default={refuseSeconds: 5}
	// +optional
	OfferFilters *OfferFilters `json:"offerFilters,omitempty"`

	// parameters are the framework's own settings, read by its scheduler.
	//
	// +kubebuilder:validation:MaxProperties=64
	// +optional
	Parameters map[string]string `json:"parameters,omitempty"`

	// scheduler optionally runs the framework's scheduler as a pod.
	//
	// +optional
	Scheduler *SchedulerSpec `json:"scheduler,omitempty"`
}

// TaskCounts counts a framework's tasks by state.
type TaskCounts struct {
	// +optional
	Staging int32 `json:"staging,omitempty"`
	// +optional
	Starting int32 `json:"starting,omitempty"`
	// +optional
	Running int32 `json:"running,omitempty"`
	// +optional
	Killing int32 `json:"killing,omitempty"`
	// +optional
	Finished int32 `json:"finished,omitempty"`
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// +optional
	Killed int32 `json:"killed,omitempty"`
	// +optional
	Error int32 `json:"error,omitempty"`
	// +optional
	Lost int32 `json:"lost,omitempty"`
	// +optional
	Dropped int32 `json:"dropped,omitempty"`
}

// FrameworkStatus is the registry's record of a framework. The master writes
// the phase, counts and offers; the scheduler SDK writes result and
// completion. Each writer patches only its own fields.
//
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.frameworkID) || (has(self.frameworkID) && self.frameworkID == oldSelf.frameworkID)",message="frameworkID cannot change once assigned"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.phase) || !(oldSelf.phase in ['Completed', 'Failed']) || (has(self.phase) && self.phase in ['Completed', 'Failed', 'TearingDown'])",messageExpression="'a ' + oldSelf.phase + ' framework cannot become ' + (has(self.phase) ? self.phase : 'unset') + '; create a new Framework to run again'"
type FrameworkStatus struct {
	// frameworkID is the ID that the master assigned on registration.
	//
	// +kubebuilder:validation:MaxLength=128
	// +optional
	FrameworkID string `json:"frameworkID,omitempty"`

	// phase is the framework's lifecycle phase.
	//
	// +optional
	Phase FrameworkPhase `json:"phase,omitempty"`

	// conditions are the framework's conditions: Registered,
	// SchedulerConnected, Ready and Succeeded.
	//
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// observedGeneration is the generation that the master last acted on.
	//
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// registeredTime is when the master registered the framework.
	//
	// +optional
	RegisteredTime *metav1.Time `json:"registeredTime,omitempty"`

	// completionTime is when the framework became Completed or Failed.
	//
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// tasks counts the framework's tasks by state.
	//
	// +optional
	Tasks TaskCounts `json:"tasks,omitempty"`

	// allocated is the sum of the resources of the framework's
	// non-terminal tasks.
	//
	// +optional
	Allocated ResourceList `json:"allocated,omitempty"`

	// dominantShare is the framework's dominant share of the active
	// agents, a decimal between 0 and 1 such as "0.25", as DRF ranked it in
	// the last allocation cycle: its live tasks, their executors and its
	// outstanding offers (allocated counts the live tasks alone).
	//
	// +kubebuilder:validation:MaxLength=32
	// +optional
	DominantShare string `json:"dominantShare,omitempty"`

	// outstandingOffers is the number of the framework's Offers that are
	// neither accepted nor declined.
	//
	// +optional
	OutstandingOffers int32 `json:"outstandingOffers,omitempty"`

	// result is the framework's outcome as its scheduler reports it.
	//
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	Result string `json:"result,omitempty"`

	// message is a human-readable explanation of the phase.
	//
	// +kubebuilder:validation:MaxLength=32768
	// +optional
	Message string `json:"message,omitempty"`
}

// Framework is a Mesos framework: a scheduler that receives resource offers
// from the master and launches Tasks on them.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mfw,categories=kubemesos
// +kubebuilder:printcolumn:name="Role",type=string,JSONPath=`.spec.role`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Running",type=integer,JSONPath=`.status.tasks.running`
// +kubebuilder:printcolumn:name="Finished",type=integer,JSONPath=`.status.tasks.finished`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.tasks.failed`
// +kubebuilder:printcolumn:name="Result",type=string,JSONPath=`.status.result`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Framework-ID",type=string,JSONPath=`.status.frameworkID`,priority=1
// +kubebuilder:printcolumn:name="Share",type=string,JSONPath=`.status.dominantShare`,priority=1
// +kubebuilder:printcolumn:name="Offers",type=integer,JSONPath=`.status.outstandingOffers`,priority=1
// +kubebuilder:printcolumn:name="Lost",type=integer,JSONPath=`.status.tasks.lost`,priority=1
// +kubebuilder:selectablefield:JSONPath=`.spec.role`
// +kubebuilder:selectablefield:JSONPath=`.status.phase`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="a Framework's name must be at most 63 characters: it is the value of the kubemesos.io/framework label"
type Framework struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the framework asks of the master.
	// +optional
	Spec FrameworkSpec `json:"spec,omitempty"`
	// status is the registry's record of the framework.
	// +optional
	Status FrameworkStatus `json:"status,omitempty"`
}

// LaunchesNoMore reports whether the framework launches no more tasks: it
// is being deleted, is tearing down, or has ended (Completed or Failed).
func (f *Framework) LaunchesNoMore() bool {
	switch f.Status.Phase {
	case FrameworkCompleted, FrameworkFailed, FrameworkTearingDown:
		return true
	}
	return f.DeletionTimestamp != nil
}

// FrameworkList is a list of Frameworks.
//
// +kubebuilder:object:root=true
type FrameworkList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Framework `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Framework{}, &FrameworkList{})
}
