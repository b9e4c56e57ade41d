package v1alpha1

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OfferSpec is a resource offer: all the free resources of one agent,
// offered to one framework. It never changes; the master creates a new
// Offer when the agent's free resources change.
//
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="an offer is immutable; the master rescinds it and makes a new one"
type OfferSpec struct {
	// framework is the name of the Framework that the offer is for.
	Framework ObjectName `json:"framework"`

	// frameworkID is the ID of that framework.
	//
	// +kubebuilder:validation:MaxLength=128
	// +optional
	FrameworkID string `json:"frameworkID,omitempty"`

	// agentID is the agent whose resources are offered.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	AgentID string `json:"agentID"`

	// nodeName is the agent's node, which is also the Agent's name.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	NodeName string `json:"nodeName"`

	// resources are the offered resources.
	Resources ResourceList `json:"resources"`

	// attributes are the agent's attributes.
	//
	// +optional
	Attributes Attributes `json:"attributes,omitempty"`
	// executorIDs are the framework's custom executors that ran a task on
	// the agent when the offer was made, as Mesos's Offer.executor_ids.
	// Their own resources are not in the offer: a task of one of them
	// needs only its own resources from the offer, even if the executor
	// has no task left when the task is admitted. A task of another custom
	// executor needs its executor's resources as well, unless that
	// executor started a task on the agent since the offer was made. The
	// first 256 IDs in order when there are more.
	//
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=255
	// +listType=set
	// +optional
	ExecutorIDs []string `json:"executorIDs,omitempty"`
}

// Offer is a Mesos resource offer. To accept it, create Tasks that name it
// in spec.offerIDs; to decline it, delete it.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=moffer,categories=kubemesos
// +kubebuilder:printcolumn:name="Framework",type=string,JSONPath=`.spec.framework`
// +kubebuilder:printcolumn:name="Agent",type=string,JSONPath=`.spec.nodeName`
// +kubebuilder:printcolumn:name="CPU",type=string,JSONPath=`.spec.resources.cpu`
// +kubebuilder:printcolumn:name="Memory",type=string,JSONPath=`.spec.resources.memory`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Agent-ID",type=string,JSONPath=`.spec.agentID`,priority=1
// +kubebuilder:printcolumn:name="Executors",type=string,JSONPath=`.spec.executorIDs`,priority=1
// +kubebuilder:selectablefield:JSONPath=`.spec.framework`
// +kubebuilder:selectablefield:JSONPath=`.spec.agentID`
// +kubebuilder:selectablefield:JSONPath=`.spec.nodeName`
type Offer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the offer.
	Spec OfferSpec `json:"spec"`
}

// OfferList is a list of Offers.
//
// +kubebuilder:object:root=true
type OfferList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Offer `json:"items"`
}

// ListsExecutor reports whether the offer was made while the framework's
// executor id ran a task on its agent (spec.executorIDs): a task of that
// executor then needs only its own resources from the offer.
func (o *Offer) ListsExecutor(id string) bool { return slices.Contains(o.Spec.ExecutorIDs, id) }

func init() {
	SchemeBuilder.Register(&Offer{}, &OfferList{})
}
