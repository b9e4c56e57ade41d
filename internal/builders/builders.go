// Package builders has fluent builders of kubemesos objects for tests, for
// example MakeTask("t1", "ns").Framework("mc").Offer("o1").Command("img").Obj().
package builders

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// Resources builds a ResourceList from name/quantity pairs, such as
// Resources("cpu", "1", "memory", "128Mi"). It panics on a bad quantity,
// which is a bug in the test.
func Resources(pairs ...string) kmv1.ResourceList {
	rl := kmv1.ResourceList{}
	for i := 0; i+1 < len(pairs); i += 2 {
		rl[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return rl
}

// TaskWrapper builds a Task.
type TaskWrapper struct{ kmv1.Task }

// MakeTask starts a Task named name in namespace ns.
func MakeTask(name, ns string) *TaskWrapper {
	return &TaskWrapper{kmv1.Task{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}}
}

// Obj returns a copy of the built Task.
func (w *TaskWrapper) Obj() *kmv1.Task { return w.DeepCopy() }

// Framework sets spec.framework and the framework label.
func (w *TaskWrapper) Framework(fw string) *TaskWrapper {
	w.Spec.Framework = kmv1.ObjectName(fw)
	w.Label(kmv1.LabelFramework, fw)
	return w
}

// Offer appends an offer ID.
func (w *TaskWrapper) Offer(ids ...string) *TaskWrapper {
	w.Spec.OfferIDs = append(w.Spec.OfferIDs, ids...)
	return w
}

// Agent sets spec.agentID.
func (w *TaskWrapper) Agent(id string) *TaskWrapper {
	w.Spec.AgentID = id
	return w
}

// Resources sets spec.resources from name/quantity pairs.
func (w *TaskWrapper) Resources(pairs ...string) *TaskWrapper {
	w.Spec.Resources = Resources(pairs...)
	return w
}

// Command makes it a command task running image with args.
func (w *TaskWrapper) Command(image string, args ...string) *TaskWrapper {
	w.Spec.Command = &kmv1.CommandInfo{Image: image, Args: args}
	return w
}

// Executor makes it a custom-executor task.
func (w *TaskWrapper) Executor(id, image string) *TaskWrapper {
	w.Spec.Executor = &kmv1.ExecutorInfo{ExecutorID: id, Image: image}
	return w
}

// Data sets spec.data.
func (w *TaskWrapper) Data(d string) *TaskWrapper {
	w.Spec.Data = d
	return w
}

// KillGrace sets spec.killGracePeriodSeconds.
func (w *TaskWrapper) KillGrace(s int64) *TaskWrapper {
	w.Spec.KillGracePeriodSeconds = ptr.To(s)
	return w
}

// Kill sets spec.kill.
func (w *TaskWrapper) Kill(k bool) *TaskWrapper {
	w.Spec.Kill = k
	return w
}

// Label sets a label.
func (w *TaskWrapper) Label(k, v string) *TaskWrapper {
	if w.Labels == nil {
		w.Labels = map[string]string{}
	}
	w.Labels[k] = v
	return w
}

// Launch says that the task's launch creates n tasks
// (kmv1.AnnotationLaunchTasks), as the scheduler SDK says it: its offer is
// used up once n are admitted, however slowly their creates come.
func (w *TaskWrapper) Launch(n int) *TaskWrapper {
	w.Annotations = kmv1.SetLaunchTasks(w.Annotations, n)
	return w
}

// State sets status.state.
func (w *TaskWrapper) State(s kmv1.TaskState) *TaskWrapper {
	w.Status.State = s
	return w
}

// FrameworkWrapper builds a Framework.
type FrameworkWrapper struct{ kmv1.Framework }

// MakeFramework starts a Framework named name in namespace ns.
func MakeFramework(name, ns string) *FrameworkWrapper {
	return &FrameworkWrapper{kmv1.Framework{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}}
}

// Obj returns a copy of the built Framework.
func (w *FrameworkWrapper) Obj() *kmv1.Framework { return w.DeepCopy() }

// Role sets spec.role.
func (w *FrameworkWrapper) Role(r string) *FrameworkWrapper {
	w.Spec.Role = r
	return w
}

// RefuseSeconds sets spec.offerFilters.refuseSeconds.
func (w *FrameworkWrapper) RefuseSeconds(s int32) *FrameworkWrapper {
	w.Spec.OfferFilters = &kmv1.OfferFilters{RefuseSeconds: ptr.To(s)}
	return w
}

// FailoverTimeout sets spec.failoverTimeoutSeconds.
func (w *FrameworkWrapper) FailoverTimeout(s int32) *FrameworkWrapper {
	w.Spec.FailoverTimeoutSeconds = ptr.To(s)
	return w
}

// Suppress sets spec.suppressOffers.
func (w *FrameworkWrapper) Suppress(s bool) *FrameworkWrapper {
	w.Spec.SuppressOffers = s
	return w
}

// Param sets one of spec.parameters.
func (w *FrameworkWrapper) Param(k, v string) *FrameworkWrapper {
	if w.Spec.Parameters == nil {
		w.Spec.Parameters = map[string]string{}
	}
	w.Spec.Parameters[k] = v
	return w
}

// OfferWrapper builds an Offer.
type OfferWrapper struct{ kmv1.Offer }

// MakeOffer starts an Offer named name in namespace ns.
func MakeOffer(name, ns string) *OfferWrapper {
	return &OfferWrapper{kmv1.Offer{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}}
}

// Obj returns a copy of the built Offer.
func (w *OfferWrapper) Obj() *kmv1.Offer { return w.DeepCopy() }

// Framework sets spec.framework and spec.frameworkID.
func (w *OfferWrapper) Framework(name, id string) *OfferWrapper {
	w.Spec.Framework = kmv1.ObjectName(name)
	w.Spec.FrameworkID = id
	return w
}

// Agent sets spec.agentID and spec.nodeName.
func (w *OfferWrapper) Agent(id, node string) *OfferWrapper {
	w.Spec.AgentID = id
	w.Spec.NodeName = node
	return w
}

// Resources sets spec.resources from name/quantity pairs.
func (w *OfferWrapper) Resources(pairs ...string) *OfferWrapper {
	w.Spec.Resources = Resources(pairs...)
	return w
}

// AgentWrapper builds an Agent.
type AgentWrapper struct{ kmv1.Agent }

// MakeAgent starts an Agent for node, named after it.
func MakeAgent(node string) *AgentWrapper {
	return &AgentWrapper{kmv1.Agent{ObjectMeta: metav1.ObjectMeta{Name: node}, Spec: kmv1.AgentSpec{NodeName: node}}}
}

// Obj returns a copy of the built Agent.
func (w *AgentWrapper) Obj() *kmv1.Agent { return w.DeepCopy() }

// NodeName sets spec.nodeName alone, leaving the name as it is.
func (w *AgentWrapper) NodeName(n string) *AgentWrapper {
	w.Spec.NodeName = n
	return w
}

// Resources sets spec.resources from name/quantity pairs.
func (w *AgentWrapper) Resources(pairs ...string) *AgentWrapper {
	w.Spec.Resources = Resources(pairs...)
	return w
}

// Endpoint sets spec.endpoint.
func (w *AgentWrapper) Endpoint(e string) *AgentWrapper {
	w.Spec.Endpoint = e
	return w
}
