package controllers

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// CacheOptions is what the master's informers hold: only kubemesos pods
// and Leases (other pods and node Leases would be steady churn for
// nothing), every object without its managed fields, and Tasks without the
// payloads the master never reads. The production master and the tests'
// in-process masters both use it.
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}:           {Label: labelExists(kmv1.LabelFramework)},
			&coordinationv1.Lease{}: {Label: labelExists(kmv1.LabelLease)},
			&kmv1.Task{}:            {Transform: StripTaskPayloads},
		},
	}
}

func labelExists(key string) labels.Selector {
	req, err := labels.NewRequirement(key, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant key
	}
	return labels.NewSelector().Add(*req)
}

// StripTaskPayloads leaves out of a cached Task what the master never
// reads and what a tenant can make large: spec.data and status.data (up to
// 64 KiB each), the command or executor's command line and environment, and
// the managed fields. It keeps whether a task is a command or an executor,
// the executor's ID and resources. The master writes Tasks only with patches
// of what it changes, so nothing left out here is ever written back.
func StripTaskPayloads(obj any) (any, error) {
	t, ok := obj.(*kmv1.Task)
	if !ok {
		return obj, nil
	}
	t.ManagedFields = nil
	t.Spec.Data = ""
	t.Status.Data = ""
	if t.Spec.Command != nil {
		t.Spec.Command = &kmv1.CommandInfo{}
	}
	if e := t.Spec.Executor; e != nil {
		t.Spec.Executor = &kmv1.ExecutorInfo{ExecutorID: e.ExecutorID, Resources: e.Resources}
	}
	return t, nil
}
