package agent

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// IsKubemesosPod reports whether pod was started by kubemesos for a task (an
// executor pod). Such pods are paid for by the tasks' resources, so they are
// not subtracted from what the agent offers.
func IsKubemesosPod(pod *corev1.Pod) bool {
	_, ok := pod.Labels[kmv1.LabelAgent]
	return ok
}

// OfferableResources returns what the agent can offer: the node's allocatable
// resources minus the requests of the node's other pods that still hold
// resources (not Succeeded or Failed), never below zero.
func OfferableResources(node *corev1.Node, pods []corev1.Pod) kmv1.ResourceList {
	free := kmv1.ResourceList{}
	for name, q := range node.Status.Allocatable {
		if name == corev1.ResourcePods {
			continue
		}
		free[name] = q.DeepCopy()
	}
	for i := range pods {
		p := &pods[i]
		if IsKubemesosPod(p) || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for name, req := range resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{}) {
			q, ok := free[name]
			if !ok {
				continue
			}
			q.Sub(req)
			if q.Sign() < 0 {
				q = *resource.NewQuantity(0, q.Format)
			}
			free[name] = q
		}
	}
	return free
}

// NodeAttributes returns the agent attributes taken from the node's labels.
func NodeAttributes(node *corev1.Node) kmv1.Attributes {
	if len(node.Labels) == 0 {
		return nil
	}
	attrs := make(kmv1.Attributes, len(node.Labels))
	for k, v := range node.Labels {
		attrs[k] = v
	}
	return attrs
}
