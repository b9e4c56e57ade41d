// Package v1alpha1 holds the kubemesos.io/v1alpha1 API: Framework, Task,
// Offer and Agent, the Kubernetes form of the Mesos master's registry.
//
// The status subresources of these kinds are the registry. CEL rules in the
// generated CRDs make the API server itself refuse illegal state changes, so
// that no writer (master, agent or scheduler) can break the invariants.
//
// +kubebuilder:object:generate=true
// +groupName=kubemesos.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kubemesos kind.
	GroupVersion = schema.GroupVersion{Group: "kubemesos.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kubemesos kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kubemesos kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
