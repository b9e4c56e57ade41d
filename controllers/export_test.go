package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/schedcache"
	"github.com/kubemesos/kubemesos/internal/fieldowner"
)

// behindInformers is a client whose lists come back empty, as informers
// that have not caught up with the API server yet; the rest goes to the
// API server.
type behindInformers struct{ client.Client }

func (behindInformers) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return nil
}

// RemoveAgentBehindInformers removes agent (Unreachable, heartbeat
// expired) as the agent registry does, in a master whose informers show
// none of the agent's tasks and offers yet and whose scheduling cache
// still assumes the staged tasks admitted by it (each reserved on an
// offer of the agent, as admission does before it writes TASK_STAGING).
// It reports whether the master then refuses to stage another task on the
// agent.
func RemoveAgentBehindInformers(ctx context.Context, c client.Client, agent *kmv1.Agent, staged ...*kmv1.Task) (refusesStaging bool, err error) {
	m := New(behindInformers{c}, clock.RealClock{}, events.NewFakeRecorder(10), Options{})
	m.apiReader = c
	id := agent.Status.AgentID
	m.sched.Upsert(agent)
	for _, tk := range staged {
		pending := tk.DeepCopy()
		pending.Status = kmv1.TaskStatus{}
		for _, offer := range pending.Spec.OfferIDs {
			m.sched.Upsert(&kmv1.Offer{ObjectMeta: metav1.ObjectMeta{Namespace: tk.Namespace, Name: offer},
				Spec: kmv1.OfferSpec{Framework: tk.Spec.Framework, AgentID: id, NodeName: agent.Name, Resources: agent.Spec.Resources}})
		}
		if v := m.sched.Reserve(pending); v.State != kmv1.TaskStaging {
			return false, fmt.Errorf("reserving %s: %s %s", tk.Name, v.State, v.Message)
		}
	}
	r := &agentRegistry{m: m}
	if err := r.remove(ctx, agent, kmv1.AgentUnreachable, kmv1.ReasonHeartbeatExpired, "removed by the test"); err != nil {
		return false, err
	}
	refuses := !m.stagings.Begin(id)
	if !refuses {
		m.stagings.End(id)
	}
	return refuses, nil
}

// AdmissionPass is what one pass of the admission controller returned.
type AdmissionPass struct {
	Result reconcile.Result
	Err    error
}

// AdmitPastAnUnclearWrite runs the admission controller on pending task
// (launched on offer, of agent) in a master whose first TASK_STAGING write
// times out: not applied, or, when applied is set, applied while the
// master's informers go on showing the task as it was read. It makes
// three passes: one that meets the timeout, one that finds the task still
// reserved, and one once the reservation's grace has ended by the master's
// clock. It returns what each pass returned and what the master's
// scheduling cache has left of the offer after them.
func AdmitPastAnUnclearWrite(ctx context.Context, c client.Client, agent *kmv1.Agent, offer *kmv1.Offer, task *kmv1.Task, applied bool) ([]AdmissionPass, corev1.ResourceList, error) {
	clk := clocktesting.NewFakeClock(time.Now())
	m := New(staleTask{Client: behindInformers{c}, task: task.DeepCopy()}, clk, events.NewFakeRecorder(10), Options{})
	m.apiReader = c
	failed := false
	m.admissionClient = unclearOnce{Client: fieldowner.Client(c, fieldowner.Admission), applied: applied, failed: &failed}
	m.sched.Upsert(agent)
	m.sched.Upsert(offer)
	m.sched.Upsert(task)
	a := &admissionController{m: m}
	req := reconcile.Request{NamespacedName: client.ObjectKeyFromObject(task)}
	var passes []AdmissionPass
	for i := range 3 {
		if i == 2 {
			clk.Step(schedcache.Grace + time.Second)
		}
		res, err := a.Reconcile(ctx, req)
		passes = append(passes, AdmissionPass{Result: res, Err: err})
	}
	if !failed {
		return passes, nil, fmt.Errorf("no TASK_STAGING write was tried")
	}
	s := m.sched.Snapshot()
	for _, o := range s.Offers {
		if o.Obj.Name == offer.Name {
			return passes, s.Names.ResourceList(o.Rest), nil
		}
	}
	return passes, nil, fmt.Errorf("offer %s is not in the scheduling cache", offer.Name)
}

// staleTask is a client that reads task as it was, as informers that have
// not caught up with its writes.
type staleTask struct {
	client.Client
	task *kmv1.Task
}

func (s staleTask) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if t, ok := obj.(*kmv1.Task); ok && key == client.ObjectKeyFromObject(s.task) {
		s.task.DeepCopyInto(t)
		return nil
	}
	return s.Client.Get(ctx, key, obj, opts...)
}

// RemoveIdleAgentFailingItsWrite removes agent, which runs no task, in a
// master whose write of the Agent's status times out unapplied, and
// reports the error and whether the master then stages tasks on the agent
// again: it is not removed, and its heartbeat may come back first.
func RemoveIdleAgentFailingItsWrite(ctx context.Context, c client.Client, agent *kmv1.Agent) (stages bool, err error) {
	failed := false
	m := New(behindInformers{unclearOnce{Client: c, failed: &failed}}, clock.RealClock{}, events.NewFakeRecorder(10), Options{})
	m.apiReader = c
	m.sched.Upsert(agent)
	r := &agentRegistry{m: m}
	err = r.remove(ctx, agent, kmv1.AgentUnreachable, kmv1.ReasonHeartbeatExpired, "removed by the test")
	if stages = m.stagings.Begin(agent.Status.AgentID); stages {
		m.stagings.End(agent.Status.AgentID)
	}
	return stages, err
}

// unclearOnce is a client whose first status write times out, having
// been applied when applied is set.
type unclearOnce struct {
	client.Client
	applied bool
	failed  *bool
}

func (u unclearOnce) Status() client.SubResourceWriter {
	return unclearStatus{SubResourceWriter: u.Client.Status(), applied: u.applied, failed: u.failed}
}

type unclearStatus struct {
	client.SubResourceWriter
	applied bool
	failed  *bool
}

func (w unclearStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	if *w.failed {
		return w.SubResourceWriter.Patch(ctx, obj, patch, opts...)
	}
	*w.failed = true
	if w.applied {
		if err := w.SubResourceWriter.Patch(ctx, obj.DeepCopyObject().(client.Object), patch, opts...); err != nil {
			return err
		}
	}
	return apierrors.NewTimeoutError("the test's API server did not answer in time", 1)
}

// SetMesosSubscribeGrace sets the least time a Mesos API framework may stay
// Pending, until the test ends; set it before the master starts.
func SetMesosSubscribeGrace(t interface{ Cleanup(func()) }, d time.Duration) {
	old := mesosSubscribeGrace
	mesosSubscribeGrace = d
	t.Cleanup(func() { mesosSubscribeGrace = old })
}
