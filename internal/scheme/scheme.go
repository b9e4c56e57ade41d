// Package scheme builds the runtime.Scheme that every kubemesos component
// uses: the built-in Kubernetes kinds plus the kubemesos.io kinds.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// New returns a scheme with the built-in kinds and the kubemesos kinds.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(kmv1.AddToScheme(s))
	return s
}
