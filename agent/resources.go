package agent

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	resourcehelper "k8s.io/component-helpers/resource"
	schedulinghelper "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/portrange"
	"github.com/kubemesos/kubemesos/internal/resources"
)

// IsKubemesosPod reports whether pod was started by kubemesos for a task (an
// executor pod). Such pods are paid for by the tasks' resources, so they are
// not subtracted from what the agent offers. The label can be trusted: the
// chart's ValidatingAdmissionPolicy kubemesos-executor-label lets only the
// agent put it on a pod.
func IsKubemesosPod(pod *corev1.Pod) bool {
	_, ok := pod.Labels[kmv1.LabelAgent]
	return ok
}

// HeldResources returns what the node's stopping kubemesos pods (pods,
// those of its node, being deleted) hold at the kubelet beyond what the
// master charges their live tasks (tasks, those of its node). The kubelet
// counts a pod's requests until the pod has stopped (Succeeded or Failed)
// and admits a new pod only within what is left, while the master charges
// a live task its own resources, and its custom executor's once per
// executor pod (charge in controllers/schedcache), and nothing once the
// task ended: a pod stopping after its tasks ended holds what no task pays
// for. The sum of that excess, per resource, is what the agent reports as
// held, within offerable (what the agent offers at all).
//
// A pod that is not stopping holds nothing here: an idle executor pod (or
// one whose first task, which sized its requests, has ended) is kept for
// later tasks of its executor, which run in it without asking the kubelet
// for more, so its room stays offered.
func HeldResources(pods []corev1.Pod, tasks []kmv1.Task, offerable kmv1.ResourceList) kmv1.ResourceList {
	charged := map[types.NamespacedName]corev1.ResourceList{}
	execCharged := map[types.NamespacedName]bool{}
	for i := range tasks {
		t := &tasks[i]
		if t.Status.State == "" || t.Status.State.IsTerminal() {
			continue
		}
		key := types.NamespacedName{Namespace: t.Namespace, Name: podNameFor(t, t.PlacedOn())}
		charged[key] = resources.Add(charged[key], t.Spec.Resources.Core())
		if t.Spec.Executor != nil && !execCharged[key] {
			execCharged[key] = true
			charged[key] = resources.Add(charged[key], t.Spec.Executor.Resources.Core())
		}
	}
	held := kmv1.ResourceList{}
	for i := range pods {
		p := &pods[i]
		if !stopping(p) {
			continue
		}
		requests := resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})
		for name, excess := range resources.Sub(requests, charged[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}]) {
			limit, ok := offerable[name]
			if !ok || excess.Sign() <= 0 {
				continue // not offered, or paid for by live tasks
			}
			h := held[name]
			h.Add(excess)
			if h.Cmp(limit) > 0 {
				h = limit.DeepCopy()
			}
			held[name] = h
		}
	}
	if len(held) == 0 {
		return nil
	}
	return held
}

// stopping reports whether p is a kubemesos pod that the kubelet still
// counts while it stops: being deleted, and not yet Succeeded or Failed.
// Only such pods can hold anything (HeldResources).
func stopping(p *corev1.Pod) bool {
	return IsKubemesosPod(p) && p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// holds is stopping for an object of an informer event: false for
// anything but a pod.
func holds(o client.Object) bool {
	p, ok := o.(*corev1.Pod)
	return ok && stopping(p)
}

// takesRoom reports whether o is a pod that kubemesos did not start and
// that the kubelet counts (not Succeeded or Failed): another scheduler's
// pod, a static pod. What it requests is not the master's to offer
// (OfferableResources).
func takesRoom(o client.Object) bool {
	p, ok := o.(*corev1.Pod)
	return ok && !IsKubemesosPod(p) && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// offeredChanged reports whether a change of the Node from old to new may
// change what its agent offers (Registrar.desired): its cordon, its taints,
// its allocatable resources or its labels (the attributes). Its status's
// heartbeats and conditions do not.
func offeredChanged(old, new client.Object) bool {
	o, ok1 := old.(*corev1.Node)
	n, ok2 := new.(*corev1.Node)
	if !ok1 || !ok2 {
		return false
	}
	return o.Spec.Unschedulable != n.Spec.Unschedulable ||
		!equality.Semantic.DeepEqual(o.Spec.Taints, n.Spec.Taints) ||
		!equality.Semantic.DeepEqual(o.Status.Allocatable, n.Status.Allocatable) ||
		!equality.Semantic.DeepEqual(o.Labels, n.Labels)
}

// tookRoom reports whether an informer event from old to new (old nil for
// a pod new to the node's cache) leaves the node less to offer: a pod of
// another scheduler came to the node, or asks for more than it did (an
// in-place resize). A pod that ends, or asks for less, gives room back,
// which can wait (--resource-growth-delay).
func tookRoom(old, new client.Object) bool {
	if !takesRoom(new) {
		return false
	}
	if old == nil || !takesRoom(old) {
		return true
	}
	o, n := old.(*corev1.Pod), new.(*corev1.Pod)
	before := resourcehelper.PodRequests(o, resourcehelper.PodResourcesOptions{})
	for name, q := range resourcehelper.PodRequests(n, resourcehelper.PodResourcesOptions{}) {
		if b, ok := before[name]; !ok && q.Sign() > 0 || ok && q.Cmp(b) > 0 {
			return true
		}
	}
	return false
}

// OfferableResources returns what the agent can offer: the node's allocatable
// resources minus the requests of the node's other pods that still hold
// resources (not Succeeded or Failed), never below zero, and the count of
// the agent's ports as kmv1.ResourcePorts. The caller offers nothing of a
// node with an UntoleratedTaint.
func OfferableResources(node *corev1.Node, pods []corev1.Pod, ports portrange.Set) kmv1.ResourceList {
	free := kmv1.ResourceList{}
	if n := ports.Count(); n > 0 {
		free[kmv1.ResourcePorts] = *resource.NewQuantity(int64(min(n, portrange.MaxPort+1)), resource.DecimalSI)
	}
	for name, q := range node.Status.Allocatable {
		if name == corev1.ResourcePods {
			continue
		}
		free[name] = q.DeepCopy()
	}
	for i := range pods {
		p := &pods[i]
		if !takesRoom(p) {
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

// MaxAttributes is how many attributes an Agent holds (the CRD's limit).
const MaxAttributes = 128

// NodeAttributes returns the agent attributes taken from the node's labels:
// all of them, or, on a node with more than MaxAttributes labels, the first
// MaxAttributes in key order, so that such a node still registers.
func NodeAttributes(node *corev1.Node) kmv1.Attributes {
	if len(node.Labels) == 0 {
		return nil
	}
	keys := make([]string, 0, len(node.Labels))
	for k := range node.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	keys = keys[:min(len(keys), MaxAttributes)]
	attrs := make(kmv1.Attributes, len(keys))
	for _, k := range keys {
		attrs[k] = node.Labels[k]
	}
	return attrs
}

// UntoleratedTaint says why tenant tasks may not run on node: a NoSchedule
// or NoExecute taint that tolerations (the operator's --offer-tolerations)
// do not tolerate, or a cordon. It returns "" when tasks may run there. An
// agent offers nothing of a node that its tasks may not use: executor pods
// name their node and so skip the scheduler's taint checks, which the
// agent applies in their place.
func UntoleratedTaint(node *corev1.Node, tolerations []corev1.Toleration) string {
	taints := node.Spec.Taints
	if node.Spec.Unschedulable {
		// A cordoned node carries this taint once the node lifecycle
		// controller sees it; the cordon itself is enough.
		taints = append(append([]corev1.Taint{}, taints...), corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	}
	taint, found := schedulinghelper.FindMatchingUntoleratedTaint(klog.Background(), taints, tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
	}, true)
	if !found {
		return ""
	}
	return fmt.Sprintf("node %s has the taint %s, which the agent's --offer-tolerations do not tolerate", node.Name, taint.ToString())
}
