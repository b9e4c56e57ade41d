package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/schedcache"
	"github.com/kubemesos/kubemesos/internal/metrics"
	"github.com/kubemesos/kubemesos/internal/resources"
)

// offerFate decides whether an outstanding offer stays ("") or goes, and why.
func (m *Master) offerFate(o *schedcache.Offer, agents map[string]*kmv1.Agent, fws map[types.NamespacedName]*kmv1.Framework, now time.Time) (string, string) {
	used := !o.LastUse.IsZero()
	// An offer with tasks launched on it still waiting for admission stays
	// until they are admitted, however long the admission queue: they were
	// launched in time, and would otherwise be dropped. One whose launch
	// said how many tasks it creates (kmv1.AnnotationLaunchTasks) is used
	// up once they are all admitted; otherwise at the end of the window,
	// which for a launch with tasks still to come is partialLaunchWindows
	// windows: a Mesos ACCEPT launches its tasks together, and a create
	// that a busy API server holds up must not find the offer gone.
	window := m.Options.AcceptWindow
	if o.Partial {
		window *= partialLaunchWindows
	}
	if used && o.Waiting == 0 && (o.Complete || now.Sub(o.LastUse) >= window) {
		return metrics.OfferConsumed, "used by tasks"
	}
	a := agents[o.Obj.Spec.NodeName]
	if a == nil || a.Status.Phase != kmv1.AgentActive || a.Status.AgentID != o.Obj.Spec.AgentID {
		return metrics.OfferRescinded, "the agent is no longer active under this agentID"
	}
	fw := fws[o.Framework]
	if fw == nil || fw.DeletionTimestamp != nil || fw.Status.Phase != kmv1.FrameworkActive {
		return metrics.OfferRescinded, "the framework is not active"
	}
	if !used && o.Waiting == 0 && m.Options.OfferTimeout > 0 && now.Sub(o.Obj.CreationTimestamp.Time) >= m.Options.OfferTimeout {
		return metrics.OfferRescinded, fmt.Sprintf("not used within --offer-timeout %s", m.Options.OfferTimeout)
	}
	return "", ""
}

// partialLaunchWindows is how many accept windows an offer waits, after
// its latest admission, for the rest of a launch that said how many tasks
// it creates. It is bounded, so that a launch whose last creates failed
// gives back what it left.
const partialLaunchWindows = 5

// maxOfferExecutors is the most executor IDs an Offer lists (the CRD's
// maxItems of spec.executorIDs).
const maxOfferExecutors = 256

// newOffer builds an Offer of rl on agent to fw, listing executors (the
// framework's executors with a task there, sorted). Its name is chosen
// here, not by the API server, so that the scheduling cache knows it
// before the create is sent.
func newOffer(fw *kmv1.Framework, agent *kmv1.Agent, rl corev1.ResourceList, executors []string) *kmv1.Offer {
	prefix := fw.Name + "-" + agent.Name
	if len(prefix) > 200 {
		prefix = strings.TrimRight(prefix[:200], ".-")
	}
	return &kmv1.Offer{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       fw.Namespace,
			Name:            prefix + "-" + utilrand.String(5),
			Labels:          map[string]string{kmv1.LabelFramework: fw.Name, kmv1.LabelAgent: agent.Name},
			OwnerReferences: []metav1.OwnerReference{offerOwner(fw)},
		},
		Spec: kmv1.OfferSpec{
			Framework:   kmv1.ObjectName(fw.Name),
			FrameworkID: fw.Status.FrameworkID,
			AgentID:     agent.Status.AgentID,
			NodeName:    agent.Name,
			Resources:   kmv1.ResourceList(rl),
			Attributes:  agent.Spec.Attributes,
			ExecutorIDs: slices.Clone(executors[:min(len(executors), maxOfferExecutors)]),
		},
	}
}

// createOffer creates an offer committed to the scheduling cache, and
// makes the cache forget it if the create failed.
func (m *Master) createOffer(ctx context.Context, offer *kmv1.Offer) error {
	if err := m.allocatorClient.Create(ctx, offer.DeepCopy()); err != nil {
		if isUnclear(err) {
			m.sched.Created(nsName(offer))
		} else {
			m.sched.Unmake(nsName(offer))
		}
		return fmt.Errorf("offering agent %s to framework %s: %w", offer.Spec.NodeName, offer.Spec.Framework, err)
	}
	m.sched.Created(nsName(offer))
	metrics.OffersTotal.WithLabelValues(metrics.OfferMade).Inc()
	ctrl.LoggerFrom(ctx).V(2).Info("offer made", "offer", nsName(offer), "agent", offer.Spec.NodeName, "resources", resources.String(offer.Spec.Resources.Core()))
	return nil
}

// isUnclear reports whether a failed write may have been applied all the
// same (a timeout, a lost connection): its assumption then waits for the
// informer, or for schedcache.Grace.
func isUnclear(err error) bool {
	return !apierrors.IsAlreadyExists(err) && !apierrors.IsConflict(err) && !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) &&
		!apierrors.IsNotFound(err) && !apierrors.IsBadRequest(err) && !apierrors.IsTooManyRequests(err)
}

// deleteOffer removes an offer that was consumed or rescinded, once the
// scheduling cache recorded the deletion (so that its informer event is not
// taken for a decline); a failed delete is forgotten there, and one that
// may have been applied (an unclear error) waits for the informer, or for
// schedcache.Grace.
func (m *Master) deleteOffer(ctx context.Context, o *kmv1.Offer, outcome, why string) error {
	key := nsName(o)
	err := m.allocatorClient.Delete(ctx, o, client.Preconditions{UID: &o.UID})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		if isUnclear(err) {
			m.sched.DeleteUnclear(key)
		} else {
			m.sched.Undelete(key)
		}
		return fmt.Errorf("deleting offer %s (%s): %w", key, why, err)
	}
	metrics.OffersTotal.WithLabelValues(outcome).Inc()
	// A rescind takes back what a framework may be about to use (its
	// launch is then refused): it is logged at the default level with its
	// reason; a consumed offer only at V(2), being one per launch.
	log := ctrl.LoggerFrom(ctx)
	if outcome != metrics.OfferRescinded {
		log = log.V(2)
	}
	log.Info("offer removed", "offer", key, "outcome", outcome, "why", why)
	return nil
}

// rescindOffers deletes the given offers, those not already being
// deleted, concurrently.
func (m *Master) rescindOffers(ctx context.Context, offers []kmv1.Offer, why string) error {
	var remove []*kmv1.Offer
	for i := range offers {
		if m.sched.BeginDelete(nsName(&offers[i])) {
			remove = append(remove, &offers[i])
		}
	}
	errs := make([]error, len(remove))
	workqueue.ParallelizeUntil(ctx, offerWriters, len(remove), func(i int) {
		errs[i] = m.deleteOffer(ctx, remove[i], metrics.OfferRescinded, why)
	})
	return errors.Join(errs...)
}

// rescindOffersOnNode deletes every offer of the agent on node.
func (m *Master) rescindOffersOnNode(ctx context.Context, node, why string) error {
	var offers kmv1.OfferList
	if err := m.Client.List(ctx, &offers, client.MatchingFields{IndexOfferNode: node}); err != nil {
		return fmt.Errorf("listing the offers on %s: %w", node, err)
	}
	return m.rescindOffers(ctx, offers.Items, why)
}

// refuseFor is how long a framework refuses an agent after declining o:
// the decline's own filter (the SDK's DeclineOffer filters), else the
// framework's spec.offerFilters.refuseSeconds, else 5s. A standby judges
// no declines: it sees the leader's own deletions as well.
func (m *Master) refuseFor(o *kmv1.Offer, fw *kmv1.Framework) (time.Duration, bool) {
	if !m.leading() {
		return 0, false
	}
	if v, err := strconv.Atoi(o.Annotations[kmv1.AnnotationRefuseSeconds]); err == nil && v >= 0 && v <= 86400 {
		return time.Duration(v) * time.Second, true
	}
	if fw != nil && fw.Spec.OfferFilters != nil && fw.Spec.OfferFilters.RefuseSeconds != nil {
		return time.Duration(*fw.Spec.OfferFilters.RefuseSeconds) * time.Second, true
	}
	return 5 * time.Second, true
}

// ClearFilters drops a framework's decline filters and asks for a cycle,
// as a Mesos REVIVE does; the scheduler API calls it.
func (m *Master) ClearFilters(fw types.NamespacedName) {
	m.sched.ClearFilters(fw)
	m.Trigger()
}

// offerDeleted counts a decline and asks for a cycle: the offer's
// resources are free again.
func (m *Master) offerDeleted(ctx context.Context, o *kmv1.Offer, fate schedcache.Fate) {
	if !m.leading() {
		return
	}
	if fate == schedcache.Declined {
		metrics.OffersTotal.WithLabelValues(metrics.OfferDeclined).Inc()
		ctrl.LoggerFrom(ctx).V(2).Info("offer declined", "offer", nsName(o))
	}
	m.Trigger()
}

// offerOwner is an Offer's reference to its Framework, which does not hold
// the Framework's deletion back.
func offerOwner(fw *kmv1.Framework) metav1.OwnerReference {
	o := kmv1.FrameworkOwner(fw.Name, fw.UID)
	o.BlockOwnerDeletion = ptr.To(false)
	return o
}
