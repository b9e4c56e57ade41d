package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// ResourceList is a set of named quantities with the Kubernetes resource
// names: cpu, memory and extended resources such as nvidia.com/gpu. Every
// quantity must be zero or more.
//
// +kubebuilder:validation:MaxProperties=24
// +kubebuilder:validation:XValidation:rule="self.all(r, !string(self[r]).startsWith('-'))",message="resource quantities must not be negative"
type ResourceList map[corev1.ResourceName]resource.Quantity

// Core returns the list as a corev1.ResourceList, for the helpers of
// k8s.io/api and k8s.io/apimachinery. The two share one representation.
func (r ResourceList) Core() corev1.ResourceList { return corev1.ResourceList(r) }

// ResourcePorts counts ports: an Agent's spec.resources holds how many
// ports it offers (spec.ports), an Offer's how many of them it offers, a
// Task's how many it holds (spec.ports). The allocator accounts them as it
// accounts any extended resource. The agent leaves it out of executor
// pods' requests: a node has no such resource, and each pod has its own
// network namespace, where a port is never contended.
const ResourcePorts corev1.ResourceName = "kubemesos.io/ports"

// PortRange is the ports begin to end, both included.
//
// +kubebuilder:validation:XValidation:rule="self.begin <= self.end",message="a port range must not begin after its end"
type PortRange struct {
	// begin is the first port of the range.
	//
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	Begin int32 `json:"begin"`
	// end is the last port of the range.
	//
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	End int32 `json:"end"`
}

// ObjectName is the name of a Kubernetes object in the same namespace: a
// DNS-1123 subdomain.
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
type ObjectName string

// Attributes are the string attributes of an agent, taken from the labels of
// its node. Frameworks see them in every offer, as Mesos agent attributes.
//
// +kubebuilder:validation:MaxProperties=128
type Attributes map[string]string
