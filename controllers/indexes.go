package controllers

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// Field indexes of the master's cache. All reads in the hot path go through
// them, never through List calls to the API server.
const (
	// IndexTaskFramework indexes Tasks by spec.framework.
	IndexTaskFramework = "task.spec.framework"
	// IndexTaskAgentID indexes the Tasks that have not ended by the agent
	// that runs them (status.agentID, else spec.agentID): an ended task
	// never changes again, so a lost agent has nothing to do with it, and
	// the index costs nothing for it.
	IndexTaskAgentID = "task.agentID"
	// IndexTaskNode indexes the Tasks that have not ended by the node they
	// were staged on (status.nodeName): the tasks of every agentID the
	// node's agent had.
	IndexTaskNode = "task.nodeName"
	// IndexTaskLostByRemoval indexes the Tasks that the master made
	// TASK_LOST for their agent's removal by that agentID: the mark of a
	// removal begun, which the agent registry finishes.
	IndexTaskLostByRemoval = "task.lostByRemoval"
	// IndexOfferFramework indexes Offers by spec.framework.
	IndexOfferFramework = "offer.spec.framework"
	// IndexOfferNode indexes Offers by spec.nodeName.
	IndexOfferNode = "offer.spec.nodeName"
)

// SetupIndexes registers the field indexes on the manager's cache.
func SetupIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	indexes := []struct {
		obj   client.Object
		field string
		fn    client.IndexerFunc
	}{
		{&kmv1.Task{}, IndexTaskFramework, func(o client.Object) []string { return []string{string(o.(*kmv1.Task).Spec.Framework)} }},
		{&kmv1.Task{}, IndexTaskAgentID, func(o client.Object) []string {
			t := o.(*kmv1.Task)
			if id := t.PlacedOn(); id != "" && !t.Status.State.IsTerminal() {
				return []string{id}
			}
			return nil
		}},
		{&kmv1.Task{}, IndexTaskNode, func(o client.Object) []string {
			t := o.(*kmv1.Task)
			if t.Status.NodeName != "" && !t.Status.State.IsTerminal() {
				return []string{t.Status.NodeName}
			}
			return nil
		}},
		{&kmv1.Task{}, IndexTaskLostByRemoval, func(o client.Object) []string {
			st := &o.(*kmv1.Task).Status
			if st.State == kmv1.TaskLost && st.Source == kmv1.SourceMaster && st.Reason == kmv1.ReasonAgentRemoved && st.AgentID != "" {
				return []string{st.AgentID}
			}
			return nil
		}},
		{&kmv1.Offer{}, IndexOfferFramework, func(o client.Object) []string { return []string{string(o.(*kmv1.Offer).Spec.Framework)} }},
		{&kmv1.Offer{}, IndexOfferNode, func(o client.Object) []string { return []string{o.(*kmv1.Offer).Spec.NodeName} }},
	}
	for _, ix := range indexes {
		if err := indexer.IndexField(ctx, ix.obj, ix.field, ix.fn); err != nil {
			return fmt.Errorf("indexing %T by %s: %w", ix.obj, ix.field, err)
		}
	}
	return nil
}
