package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/deletions"
	"github.com/kubemesos/kubemesos/internal/portrange"
)

// Registrar keeps the node's Agent spec current and renews the agent's
// heartbeat Lease. The agent's registration loop calls it every Interval.
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
	// Ports are the port ranges the agent offers.
	Ports portrange.Set
	// GrowthDelay is how long after the Agent spec's last write a spec
	// whose resources only grew waits to be written (onlyGrew); zero
	// writes it at once. On a node shared with other schedulers' pods
	// what the agent can offer changes as each of them starts and ends:
	// written every time, that is a write per node per heartbeat for as
	// long as they churn. What the node has less of is written at once,
	// so that the master never offers what the kubelet would refuse; what
	// it has more of may wait, and meanwhile the master offers less than
	// there is.
	GrowthDelay time.Duration
	// Recorder, when set, records on the Agent when the node stops being
	// offered because of a taint (Warning NodeNotOffered, with the taint)
	// and when it is offered again (NodeOffered), so that `kubectl
	// describe agent` says why an Active agent offers nothing.
	Recorder events.EventRecorder

	lastTaint string    // the last reason to offer nothing, told once (tellTaint)
	written   time.Time // when the Agent spec was last written
	// own is the Agent as the last spec write stored it, and ownFrom the
	// resourceVersion the cache showed then: while the cache still shows
	// that, it lags the write, and own is compared instead.
	own     *kmv1.Agent
	ownFrom string
}

// DesiredSpec computes the Agent spec from the node and the pods on it.
func (r *Registrar) DesiredSpec(ctx context.Context) (kmv1.AgentSpec, error) {
	spec, _, err := r.desired(ctx)
	return spec, err
}

// desired is DesiredSpec, with the reason why the node offers nothing
// ("" when it is offered).
func (r *Registrar) desired(ctx context.Context) (kmv1.AgentSpec, string, error) {
	var node corev1.Node
	if err := r.Client.Get(ctx, types.NamespacedName{Name: r.NodeName}, &node); err != nil {
		return kmv1.AgentSpec{}, "", fmt.Errorf("reading node %s: %w", r.NodeName, err)
	}
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.MatchingFields{indexPodNode: r.NodeName}); err != nil {
		return kmv1.AgentSpec{}, "", fmt.Errorf("listing the pods of node %s: %w", r.NodeName, err)
	}
	var tasks kmv1.TaskList
	if err := r.Client.List(ctx, &tasks); err != nil {
		return kmv1.AgentSpec{}, "", fmt.Errorf("listing the tasks of node %s: %w", r.NodeName, err)
	}
	resources := OfferableResources(&node, pods.Items, r.Ports)
	why := UntoleratedTaint(&node, r.Tolerations)
	if why != "" {
		resources = kmv1.ResourceList{}
	}
	held := HeldResources(pods.Items, tasks.Items, resources)
	return kmv1.AgentSpec{
		NodeName:   r.NodeName,
		Resources:  resources,
		Held:       held,
		Attributes: NodeAttributes(&node),
		Endpoint:   r.Endpoint,
		Ports:      r.Ports.API(),
	}, why, nil
}

// SyncAgent creates the Agent, or patches its spec when it changed. It
// writes nothing in steady state.
func (r *Registrar) SyncAgent(ctx context.Context) error {
	spec, why, err := r.desired(ctx)
	if err != nil {
		return err
	}
	var cur kmv1.Agent
	err = r.Client.Get(ctx, types.NamespacedName{Name: r.NodeName}, &cur)
	cached := cur.ResourceVersion
	if err == nil && r.own != nil && cached == r.ownFrom {
		// The cache has not shown the last write yet: compare with what
		// that write stored, not with what came before it.
		cur = *r.own.DeepCopy()
	}
	if apierrors.IsNotFound(err) {
		a := &kmv1.Agent{ObjectMeta: metav1.ObjectMeta{Name: r.NodeName}, Spec: spec}
		if err := r.Client.Create(ctx, a); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating Agent %s: %w", r.NodeName, err)
		}
		r.written = r.Clock.Now()
		ctrl.LoggerFrom(ctx).Info("registered the agent", "node", r.NodeName)
		r.tellTaint(ctx, a, why)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading Agent %s: %w", r.NodeName, err)
	}
	r.tellTaint(ctx, &cur, why)
	if equality.Semantic.DeepEqual(cur.Spec, spec) {
		return nil
	}
	if r.GrowthDelay > 0 && onlyGrew(cur.Spec, spec) && r.Clock.Since(r.written) < r.GrowthDelay {
		return nil
	}
	patch := client.MergeFrom(cur.DeepCopy())
	cur.Spec = spec
	if err := r.Client.Patch(ctx, &cur, patch); err != nil {
		r.own = nil
		return fmt.Errorf("updating the spec of Agent %s: %w", r.NodeName, err)
	}
	r.written = r.Clock.Now()
	r.own, r.ownFrom = cur.DeepCopy(), cached
	return nil
}

// tellTaint logs a change of the reason why the node offers nothing, and
// records it on the Agent a: a Warning when a taint takes the node out of
// the offers, and a Normal event when it is offered again after that.
func (r *Registrar) tellTaint(ctx context.Context, a *kmv1.Agent, why string) {
	if why == r.lastTaint {
		return
	}
	r.lastTaint = why
	log := ctrl.LoggerFrom(ctx)
	if why != "" {
		log.Info("offering nothing of this node", "node", r.NodeName, "reason", why)
	} else {
		log.Info("offering this node again: no untolerated taint", "node", r.NodeName)
	}
	if r.Recorder == nil {
		return
	}
	if why != "" {
		r.Recorder.Eventf(a, nil, corev1.EventTypeWarning, "NodeNotOffered", "Register", "offering nothing: %s", why)
	} else {
		r.Recorder.Eventf(a, nil, corev1.EventTypeNormal, "NodeOffered", "Register",
			"offering node %s again: no taint left that its tasks do not tolerate", r.NodeName)
	}
}

// onlyGrew reports whether next differs from cur only in more of some of
// the resources that cur offers: none less, none added or dropped, and
// everything else the same (what the node's stopping kubemesos pods hold
// included, which follows kubemesos's own pods). An Agent that offered
// nothing, or none of a resource (an untolerated taint, or nothing left),
// has not only grown when it offers it again.
func onlyGrew(cur, next kmv1.AgentSpec) bool {
	if len(cur.Resources) == 0 || len(next.Resources) != len(cur.Resources) {
		return false
	}
	grew := false
	for name, q := range cur.Resources {
		n, ok := next.Resources[name]
		if !ok || n.Cmp(q) < 0 {
			return false
		}
		if n.Cmp(q) > 0 {
			if q.IsZero() {
				return false // none of it offered until now
			}
			grew = true
		}
	}
	c, n := cur.DeepCopy(), next.DeepCopy()
	c.Resources, n.Resources = nil, nil
	return grew && equality.Semantic.DeepEqual(c, n)
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
	// No resourceVersion precondition: the agent is the Lease's one writer,
	// and a renewal is a time that only moves forward, so a cache that lags
	// (under load, by more than the interval) must not turn it into a
	// conflict and a missed heartbeat (1,463 of them in a 1,000-node run of
	// the scale suite).
	patch := client.MergeFrom(lease.DeepCopy())
	lease.Spec.RenewTime = &now
	lease.Spec.HolderIdentity = ptr.To(r.NodeName)
	if err := r.Client.Patch(ctx, &lease, patch); err != nil {
		return fmt.Errorf("renewing Lease %s: %w", key, err)
	}
	return nil
}

// registration is the agent's registration loop, as a Mesos agent's with
// its master: every interval it renews the heartbeat Lease and keeps the
// node's Agent current (through the Registrar), and it follows the agentID
// that the master assigns at admission, on every beat and whenever the
// Agent changes (poke).
type registration struct {
	registrar *Registrar
	// client reads the node's Agent and pods from the agent's cache and
	// writes as the agent.
	client   client.Client
	clock    clock.WithTicker
	recorder events.EventRecorder
	log      logr.Logger
	id       *identity
	// updates, dispatch, messages and deletes forget and end what ran
	// under an old agentID.
	updates  *StatusUpdates
	dispatch *dispatcher
	messages *messageRelay
	deletes  *deletions.Deleter
	// requeue has the task reconciler look at every task under a new
	// agentID.
	requeue *requeuer
	wake    chan struct{}
	// soon is signalled when the node's pods or the Node change what the
	// agent offers (syncSoon).
	soon chan struct{}
}

// syncSoonInterval is the least time between two syncs of the Agent spec
// asked for apart from the heartbeat (syncSoon), so that many pods
// stopping or coming at once cost one write.
const syncSoonInterval = time.Second

// poke asks the loop to check admission now: the node's Agent changed.
func (r *registration) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// syncSoon asks the loop to sync the Agent spec soon, apart from the
// heartbeat, because what the agent offers may have changed:
//   - a kubemesos pod of the node started or ended stopping, so what its
//     pods hold at the kubelet (spec.held) may have changed;
//   - another scheduler's pod came to the node (or asked for more), so the
//     node has less to offer (spec.resources);
//   - the Node was cordoned or uncordoned, or its taints, allocatable
//     resources or labels changed.
//
// The kubelet counts a pod's requests until it stops; the sooner the
// master knows, the fewer pods are placed where the kubelet refuses them
// (OutOfcpu), or where an operator no longer wants them, meanwhile.
func (r *registration) syncSoon() {
	select {
	case r.soon <- struct{}{}:
	default:
	}
}

// run beats and checks admission until ctx ends, and syncs the Agent spec
// at each beat and, at most every syncSoonInterval, when syncSoon asks. A
// sync that failed is tried again after syncSoonInterval, doubled at each
// failure up to the heartbeat interval: what it would have written (a pod
// that came, a cordon) is what the master must stop offering.
func (r *registration) run(ctx context.Context) {
	ticker := r.clock.NewTicker(r.registrar.Interval)
	defer ticker.Stop()
	beat, sync := true, false
	var synced time.Time
	var later <-chan time.Time
	fails := 0
	for {
		if beat {
			r.report(ctx, r.registrar.Heartbeat(ctx), "renewing the heartbeat Lease")
		}
		if beat || sync {
			// The spacing runs from the sync's start.
			synced, later = r.clock.Now(), nil
			err := r.registrar.SyncAgent(ctx)
			r.report(ctx, err, "updating the Agent spec")
			if err != nil && ctx.Err() == nil {
				later = r.clock.After(min(syncSoonInterval<<min(fails, 6), r.registrar.Interval))
				fails++
			} else {
				fails = 0
			}
		}
		r.report(ctx, r.checkAdmission(ctx), "checking admission")
		beat, sync = false, false
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
			beat = true
		case <-r.wake:
			// Only the Agent changed: check admission.
		case <-r.soon:
			if wait := syncSoonInterval - r.clock.Since(synced); wait > 0 {
				if later == nil {
					later = r.clock.After(wait)
				}
			} else {
				sync = true
			}
		case <-later:
			sync = true
		}
	}
}

// report logs err of the step what, unless the agent is stopping: a
// request that its stop cancelled is no failure, and the next beat, if
// any, tries again.
func (r *registration) report(ctx context.Context, err error, what string) {
	if err != nil && ctx.Err() == nil {
		r.log.Error(err, what)
	}
}

// checkAdmission follows the agentID that the master assigned. A new ID
// after an old one means the master re-admitted this node as a new agent:
// the agent kills every executor of the old ID, forgets its updates, and
// carries on as the new agent. So it does with the executors of any other
// ID when it had none (its checkpoint was lost): the master lost their
// tasks when it gave the node a new ID.
func (r *registration) checkAdmission(ctx context.Context) error {
	var ag kmv1.Agent
	if err := r.client.Get(ctx, types.NamespacedName{Name: r.registrar.NodeName}, &ag); err != nil {
		return client.IgnoreNotFound(err)
	}
	id, old := ag.Status.AgentID, r.id.get()
	if id == "" || id == old {
		return nil
	}
	if old != "" {
		r.log.Info("the master re-admitted this node as a new agent; killing the executors of the old agentID", "old", old, "new", id)
		r.recorder.Eventf(&ag, nil, corev1.EventTypeWarning, "AgentIDChanged", "Reregister",
			"agentID %s replaced by %s: killing the old agent's executors; its tasks stay lost", old, id)
		r.updates.DropAgent(old)
	}
	if err := r.killAgentPods(ctx, id); err != nil {
		return err
	}
	if err := r.id.set(id); err != nil {
		return err
	}
	r.log.Info("running as agent", "agentID", id)
	return r.requeue.all(ctx)
}

// killAgentPods ends every executor on the node launched under another
// agentID than current: its stream ends, its scheduler messages are
// dropped and its pod deleted.
func (r *registration) killAgentPods(ctx context.Context, current string) error {
	var pods corev1.PodList
	if err := r.client.List(ctx, &pods, client.MatchingLabels{kmv1.LabelAgent: r.registrar.NodeName}); err != nil {
		return fmt.Errorf("listing executor pods: %w", err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		agentID := p.Annotations[AnnotationAgentID]
		if agentID == "" || agentID == current {
			continue
		}
		if exec := executorIDOfPod(p); exec != "" {
			k := ExecutorKey{Namespace: p.Namespace, Framework: p.Labels[kmv1.LabelFramework], ExecutorID: exec}
			r.dispatch.disconnect(k)
			r.messages.drop(k, "dropping the messages of an executor of the old agentID")
		}
		if p.DeletionTimestamp != nil {
			continue
		}
		if _, err := r.deletes.Delete(ctx, p); err != nil {
			return fmt.Errorf("killing a pod of old agent %s: %w", agentID, err)
		}
	}
	return nil
}
