package controllers

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
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
