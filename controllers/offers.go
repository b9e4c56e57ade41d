package controllers

import (
	"context"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/metrics"
	"github.com/kubemesos/kubemesos/internal/resources"
)

func containsOffer(offers []kmv1.Offer, key types.NamespacedName) bool {
	for i := range offers {
		if offers[i].Namespace == key.Namespace && offers[i].Name == key.Name {
			return true
		}
	}
	return false
}

// offerFate decides whether an outstanding offer stays ("") or goes, and why.
func (m *Master) offerFate(o *kmv1.Offer, agents map[string]*kmv1.Agent, fws map[types.NamespacedName]*kmv1.Framework, now time.Time) (string, string) {
	l := m.ledger
	key := nsName(o)
	if first, used := l.firstUse[key]; used && now.Sub(first) >= m.Options.AcceptWindow {
		return metrics.OfferConsumed, "used by tasks"
	}
	a := agents[o.Spec.NodeName]
	if a == nil || a.Status.Phase != kmv1.AgentActive || a.Status.AgentID != o.Spec.AgentID {
		return metrics.OfferRescinded, "the agent is no longer active under this agentID"
	}
	fw := fws[types.NamespacedName{Namespace: o.Namespace, Name: string(o.Spec.Framework)}]
	if fw == nil || fw.DeletionTimestamp != nil || fw.Status.Phase != kmv1.FrameworkActive {
		return metrics.OfferRescinded, "the framework is not active"
	}
	if _, used := l.firstUse[key]; !used && m.Options.OfferTimeout > 0 && now.Sub(o.CreationTimestamp.Time) >= m.Options.OfferTimeout {
		return metrics.OfferRescinded, fmt.Sprintf("not used within --offer-timeout %s", m.Options.OfferTimeout)
	}
	return "", ""
}

// createOffer makes one Offer of all of agent's free resources to fw.
func (m *Master) createOffer(ctx context.Context, fw *kmv1.Framework, agent *kmv1.Agent, rl corev1.ResourceList) error {
	offer := &kmv1.Offer{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:    fw.Namespace,
			GenerateName: fw.Name + "-" + agent.Name + "-",
			Labels:       map[string]string{kmv1.LabelFramework: fw.Name, kmv1.LabelAgent: agent.Name},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: kmv1.GroupVersion.String(), Kind: "Framework", Name: fw.Name, UID: fw.UID,
				BlockOwnerDeletion: ptr.To(false)}},
		},
		Spec: kmv1.OfferSpec{
			Framework:   kmv1.ObjectName(fw.Name),
			FrameworkID: fw.Status.FrameworkID,
			AgentID:     agent.Status.AgentID,
			NodeName:    agent.Name,
			Resources:   kmv1.ResourceList(rl),
			Attributes:  agent.Spec.Attributes,
		},
	}
	if len(offer.GenerateName) > 200 {
		offer.GenerateName = offer.GenerateName[:200]
	}
	if err := m.Client.Create(ctx, offer); err != nil {
		return fmt.Errorf("offering agent %s to framework %s: %w", agent.Name, nsName(fw), err)
	}
	m.ledger.created[nsName(offer)] = createdOffer{framework: nsName(fw), agentID: agent.Status.AgentID, resources: rl}
	metrics.OffersTotal.WithLabelValues(metrics.OfferMade).Inc()
	ctrl.LoggerFrom(ctx).V(2).Info("offer made", "offer", nsName(offer), "agent", agent.Name, "resources", resources.String(rl))
	return nil
}

// deleteOffer removes an offer that was consumed or rescinded. The ledger
// remembers the deletion, so its informer event is not taken for a decline.
// The caller holds the ledger lock.
func (m *Master) deleteOffer(ctx context.Context, o *kmv1.Offer, outcome, why string) error {
	key := nsName(o)
	m.ledger.deleted[key] = struct{}{}
	err := m.Client.Delete(ctx, o, client.Preconditions{UID: &o.UID})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		delete(m.ledger.deleted, key)
		return fmt.Errorf("deleting offer %s (%s): %w", key, why, err)
	}
	metrics.OffersTotal.WithLabelValues(outcome).Inc()
	ctrl.LoggerFrom(ctx).V(2).Info("offer removed", "offer", key, "outcome", outcome, "why", why)
	return nil
}

// rescindOffersOnNode deletes every offer of the agent on node.
func (m *Master) rescindOffersOnNode(ctx context.Context, node, why string) error {
	var offers kmv1.OfferList
	if err := m.Client.List(ctx, &offers, client.MatchingFields{IndexOfferNode: node}); err != nil {
		return fmt.Errorf("listing the offers on %s: %w", node, err)
	}
	m.ledger.mu.Lock()
	defer m.ledger.mu.Unlock()
	for i := range offers.Items {
		o := &offers.Items[i]
		if _, gone := m.ledger.deleted[nsName(o)]; gone {
			continue
		}
		if err := m.deleteOffer(ctx, o, metrics.OfferRescinded, why); err != nil {
			return err
		}
	}
	return nil
}

// offerDeleted records a decline, unless the master itself removed the
// offer or tasks used it. A standby's informer sees the leader's deletions
// too; only the leader keeps a ledger.
func (m *Master) offerDeleted(ctx context.Context, o *kmv1.Offer) {
	if !m.leading() {
		return
	}
	l := m.ledger
	l.mu.Lock()
	key := nsName(o)
	_, own := l.deleted[key]
	_, used := l.firstUse[key]
	delete(l.deleted, key)
	l.forgetOffer(key)
	if !own && !used {
		refuse := 5 * time.Second
		var fw kmv1.Framework
		if err := m.Client.Get(ctx, types.NamespacedName{Namespace: o.Namespace, Name: string(o.Spec.Framework)}, &fw); err == nil &&
			fw.Spec.OfferFilters != nil && fw.Spec.OfferFilters.RefuseSeconds != nil {
			refuse = time.Duration(*fw.Spec.OfferFilters.RefuseSeconds) * time.Second
		}
		// A decline may carry its own filter (the SDK's DeclineOffer filters).
		if v, err := strconv.Atoi(o.Annotations[kmv1.AnnotationRefuseSeconds]); err == nil && v >= 0 && v <= 86400 {
			refuse = time.Duration(v) * time.Second
		}
		l.filters[filterKey{framework: types.NamespacedName{Namespace: o.Namespace, Name: string(o.Spec.Framework)}, agentID: o.Spec.AgentID}] = m.Clock.Now().Add(refuse)
		metrics.OffersTotal.WithLabelValues(metrics.OfferDeclined).Inc()
		ctrl.LoggerFrom(ctx).V(2).Info("offer declined", "offer", key, "refuse", refuse)
	}
	l.mu.Unlock()
	m.Trigger()
}

// offerRest is what is left of an offer after the tasks admitted on it,
// never below zero. The caller holds the ledger lock.
func (m *Master) offerRest(o *kmv1.Offer) corev1.ResourceList {
	rest := resources.Sub(o.Spec.Resources.Core(), m.ledger.offerUse[nsName(o)])
	for k, q := range rest {
		if q.Sign() < 0 {
			delete(rest, k)
		}
	}
	return rest
}
