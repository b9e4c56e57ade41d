package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
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
// none of the agent's tasks and offers yet, after admission staged the
// tasks staged on it. It reports whether the master then refuses to stage
// another task on the agent.
func RemoveAgentBehindInformers(ctx context.Context, c client.Client, agent *kmv1.Agent, staged ...types.NamespacedName) (refusesStaging bool, err error) {
	m := New(behindInformers{c}, clock.RealClock{}, events.NewFakeRecorder(10), Options{})
	m.apiReader = c
	id := agent.Status.AgentID
	for _, key := range staged {
		if !m.stagings.Begin(id) {
			return false, nil
		}
		m.stagings.End(id, key)
	}
	r := &agentRegistry{m: m}
	if err := r.remove(ctx, agent, kmv1.AgentUnreachable, kmv1.ReasonHeartbeatExpired, "removed by the test"); err != nil {
		return false, err
	}
	refuses := !m.stagings.Begin(id)
	if !refuses {
		m.stagings.End(id, types.NamespacedName{})
	}
	return refuses, nil
}
