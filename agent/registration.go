package agent

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// Registrar keeps the node's Agent spec current and renews the agent's
// heartbeat Lease. The Agent's main loop calls it every Interval.
type Registrar struct {
	// Client reads from the agent's node-scoped cache and writes to the API server.
	Client client.Client
	// Clock is the source of the Lease renew time.
	Clock clock.WithTicker
	// NodeName is the agent's node.
	NodeName string
	// Endpoint is the executor API address written into the Agent spec.
	Endpoint string
	// LeaseNamespace is the namespace of the heartbeat Lease.
	LeaseNamespace string
	// Interval is how often the Lease is renewed and the spec checked.
	Interval time.Duration
	// LeaseDuration is written into the Lease for humans and tools; the
	// master decides reachability from renewTime with its own timeout.
	LeaseDuration time.Duration
	// Tolerations are the node taints under which tenant tasks may still
	// run here (the operator's opt-in); under any other NoSchedule or
	// NoExecute taint the node offers nothing.
	Tolerations []corev1.Toleration

	lastTaint string // the last reason to offer nothing, logged once
}

// DesiredSpec computes the Agent spec from the node and the pods on it.
func (r *Registrar) DesiredSpec(ctx context.Context) (kmv1.AgentSpec, error) {
	var node corev1.Node
	if err := r.Client.Get(ctx, types.NamespacedName{Name: r.NodeName}, &node); err != nil {
		return kmv1.AgentSpec{}, fmt.Errorf("reading node %s: %w", r.NodeName, err)
	}
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.MatchingFields{indexPodNode: r.NodeName}); err != nil {
		return kmv1.AgentSpec{}, fmt.Errorf("listing the pods of node %s: %w", r.NodeName, err)
	}
	resources := OfferableResources(&node, pods.Items)
	why := UntoleratedTaint(&node, r.Tolerations)
	if why != "" {
		resources = kmv1.ResourceList{}
	}
	if why != r.lastTaint {
		if why != "" {
			ctrl.LoggerFrom(ctx).Info("offering nothing of this node", "node", r.NodeName, "reason", why)
		} else {
			ctrl.LoggerFrom(ctx).Info("offering this node again: no untolerated taint", "node", r.NodeName)
		}
		r.lastTaint = why
	}
	return kmv1.AgentSpec{
		NodeName:   r.NodeName,
		Resources:  resources,
		Attributes: NodeAttributes(&node),
		Endpoint:   r.Endpoint,
	}, nil
}

// SyncAgent creates the Agent, or patches its spec when it changed. It
// writes nothing in steady state.
func (r *Registrar) SyncAgent(ctx context.Context) error {
	spec, err := r.DesiredSpec(ctx)
	if err != nil {
		return err
	}
	var cur kmv1.Agent
	err = r.Client.Get(ctx, types.NamespacedName{Name: r.NodeName}, &cur)
	if apierrors.IsNotFound(err) {
		a := &kmv1.Agent{ObjectMeta: metav1.ObjectMeta{Name: r.NodeName}, Spec: spec}
		if err := r.Client.Create(ctx, a); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating Agent %s: %w", r.NodeName, err)
		}
		ctrl.LoggerFrom(ctx).Info("registered the agent", "node", r.NodeName)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading Agent %s: %w", r.NodeName, err)
	}
	if equality.Semantic.DeepEqual(cur.Spec, spec) {
		return nil
	}
	patch := client.MergeFrom(cur.DeepCopy())
	cur.Spec = spec
	if err := r.Client.Patch(ctx, &cur, patch); err != nil {
		return fmt.Errorf("updating the spec of Agent %s: %w", r.NodeName, err)
	}
	return nil
}

// Heartbeat creates or renews the Lease kubemesos-agent-<node>.
func (r *Registrar) Heartbeat(ctx context.Context) error {
	now := metav1.NewMicroTime(r.Clock.Now())
	key := types.NamespacedName{Namespace: r.LeaseNamespace, Name: kmv1.AgentLeaseName(r.NodeName)}
	var lease coordinationv1.Lease
	err := r.Client.Get(ctx, key, &lease)
	if apierrors.IsNotFound(err) {
		lease = coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: map[string]string{kmv1.LabelAgent: r.NodeName, kmv1.LabelLease: kmv1.LeaseKindAgent}},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(r.NodeName),
				LeaseDurationSeconds: ptr.To(int32(max(1, (r.LeaseDuration+time.Second-1)/time.Second))),
				AcquireTime:          &now,
				RenewTime:            &now,
			},
		}
		if err := r.Client.Create(ctx, &lease); err != nil {
			return fmt.Errorf("creating Lease %s: %w", key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading Lease %s: %w", key, err)
	}
	patch := client.MergeFromWithOptions(lease.DeepCopy(), client.MergeFromWithOptimisticLock{})
	lease.Spec.RenewTime = &now
	lease.Spec.HolderIdentity = ptr.To(r.NodeName)
	if err := r.Client.Patch(ctx, &lease, patch); err != nil {
		return fmt.Errorf("renewing Lease %s: %w", key, err)
	}
	return nil
}
