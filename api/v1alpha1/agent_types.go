package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AgentPhase is the registry phase of an agent.
//
// +kubebuilder:validation:Enum=Registering;Active;Unreachable;Gone;Draining
type AgentPhase string

// Agent phases.
const (
	// AgentRegistering: the agent wrote its spec and waits for admission.
	AgentRegistering AgentPhase = "Registering"
	// AgentActive: the master admitted the agent; its resources are offered.
	AgentActive AgentPhase = "Active"
	// AgentUnreachable: the agent's heartbeat Lease was not renewed in
	// time. Its offers were rescinded and its tasks marked TASK_LOST.
	AgentUnreachable AgentPhase = "Unreachable"
	// AgentGone: the agent's Node was deleted.
	AgentGone AgentPhase = "Gone"
	// AgentDraining: the agent takes no new tasks; running tasks go on.
	AgentDraining AgentPhase = "Draining"
)

// Agent condition types.
const (
	// AgentReady is true while the agent is Active and its heartbeat is fresh.
	AgentReady = "Ready"
	// AgentAdmitted is true once the master assigned an agentID.
	AgentAdmitted = "Admitted"
)

// Agent condition reasons.
const (
	// ReasonAdmitted: the master admitted the agent with a new agentID.
	ReasonAdmitted = "Admitted"
	// ReasonReadmitted: an agent that was Unreachable or Gone came back and
	// was admitted again with a new agentID.
	ReasonReadmitted = "Readmitted"
	// ReasonHeartbeatFresh: the agent's Lease is being renewed.
	ReasonHeartbeatFresh = "HeartbeatFresh"
	// ReasonHeartbeatExpired: the agent's Lease was not renewed in time.
	ReasonHeartbeatExpired = "HeartbeatExpired"
	// ReasonNodeDeleted: the agent's Node was deleted.
	ReasonNodeDeleted = "NodeDeleted"
)

// AgentSpec is what the agent tells the master about its node.
type AgentSpec struct {
	// nodeName is the agent's node. It equals the Agent's name.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	NodeName string `json:"nodeName"`

	// resources are the node's allocatable resources minus what
	// non-kubemesos pods on the node request.
	//
	// +optional
	Resources ResourceList `json:"resources,omitempty"`

	// held are what the node's stopping kubemesos pods (executor and
	// command pods being deleted) hold at the kubelet beyond what the master
	// charges their live tasks. The kubelet counts a pod's requests until
	// the pod stops and admits a new pod only within what is left, so the
	// master offers resources less held (and rescinds offers that held grew
	// under). An idle executor pod is not held: its executor's next task
	// runs in it. It is part of resources, never beyond it, and the agent
	// refreshes it on every heartbeat.
	//
	// +optional
	Held ResourceList `json:"held,omitempty"`

	// attributes are taken from the node's labels.
	//
	// +optional
	Attributes Attributes `json:"attributes,omitempty"`

	// ports are the port ranges that the agent offers (the agent's
	// --ports); resources["kubemesos.io/ports"] counts them. A framework
	// of the Mesos API is offered those that no live task of the agent
	// holds, as the Mesos resource `ports`.
	//
	// +kubebuilder:validation:MaxItems=256
	// +listType=atomic
	// +optional
	Ports []PortRange `json:"ports,omitempty"`

	// endpoint is the address of the agent's executor API, host:port.
	//
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
}

// AgentStatus is the master's record of an agent.
//
// The agentID rule: an agentID is never removed, and it changes only when
// the master re-admits an agent that it had marked Unreachable or Gone.
// The API server refuses any other change, so an Active agent's identity
// cannot be swapped under its running tasks.
//
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.agentID) || has(self.agentID)",message="agentID cannot be removed once assigned"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.agentID) || !has(self.agentID) || self.agentID == oldSelf.agentID || (has(oldSelf.phase) && oldSelf.phase in ['Unreachable', 'Gone'])",message="agentID changes only when the master re-admits an Unreachable or Gone agent"
type AgentStatus struct {
	// agentID is the ID that the master assigned on admission. A
	// re-admitted agent gets a new one.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +optional
	AgentID string `json:"agentID,omitempty"`

	// phase is the agent's registry phase.
	//
	// +optional
	Phase AgentPhase `json:"phase,omitempty"`

	// conditions are the agent's conditions: Admitted and Ready.
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

	// registeredTime is when the current agentID was assigned.
	//
	// +optional
	RegisteredTime *metav1.Time `json:"registeredTime,omitempty"`

	// unreachableTime is when the agent was last marked Unreachable.
	//
	// +optional
	UnreachableTime *metav1.Time `json:"unreachableTime,omitempty"`

	// allocated is the sum of the resources of the agent's non-terminal tasks.
	//
	// +optional
	Allocated ResourceList `json:"allocated,omitempty"`

	// offered is the sum of the resources in the agent's outstanding offers.
	//
	// +optional
	Offered ResourceList `json:"offered,omitempty"`

	// message explains the phase for people.
	//
	// +kubebuilder:validation:MaxLength=32768
	// +optional
	Message string `json:"message,omitempty"`
}

// Agent is a Mesos agent: the kubemesos agent on one node. Its name is the
// node's name.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=magent,categories=kubemesos
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Agent-ID",type=string,JSONPath=`.status.agentID`
// +kubebuilder:printcolumn:name="CPU",type=string,JSONPath=`.spec.resources.cpu`
// +kubebuilder:printcolumn:name="Memory",type=string,JSONPath=`.spec.resources.memory`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.spec.endpoint`,priority=1
// +kubebuilder:selectablefield:JSONPath=`.spec.nodeName`
// +kubebuilder:selectablefield:JSONPath=`.status.phase`
// +kubebuilder:validation:XValidation:rule="self.metadata.name == self.spec.nodeName",message="an Agent's name must equal spec.nodeName"
type Agent struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is written by the agent.
	Spec AgentSpec `json:"spec"`
	// status is written by the master.
	// +optional
	Status AgentStatus `json:"status,omitempty"`
}

// AgentList is a list of Agents.
//
// +kubebuilder:object:root=true
type AgentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Agent `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Agent{}, &AgentList{})
}
