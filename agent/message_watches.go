package agent

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/messages"
)

// messageWatchLinger is how long a namespace's message watch outlives the
// last executor and live task of this node there, so that a framework
// whose tasks come and go does not make it start and stop each time.
const messageWatchLinger = time.Minute

// messageWatchResync is how often messageWatches checks the namespaces
// without being poked.
const messageWatchResync = 10 * time.Second

// messageWatches keeps one watch of the scheduler messages to this node
// (MessageSelector) per namespace where an executor of this node runs or a
// live task of this node waits, and feeds them to the relay.
//
// One watch across all namespaces would do the same with one connection,
// but the API server keeps no watch cache of Events (its default), so
// every watch of Events is a watch of etcd of its own, to which the API
// server decodes and hands every Event written in its scope: across all
// namespaces, every agent would pay for every Event of the cluster, which
// made an Event cost the API server 5.4 times as much with 1,000 agents
// (docs/performance.md, "The watch fan-out"). Watched per
// namespace, an Event reaches only the agents whose executors run there.
type messageWatches struct {
	// events lists and watches Events as the agent.
	events kubernetes.Interface
	// cache reads the node's pods and Tasks from the agent's cache.
	cache client.Reader
	relay *messageRelay
	node  string
	clock clock.WithTicker
	log   logr.Logger
	wake  chan struct{}

	mu      sync.Mutex
	running map[string]*namespaceWatch
}

// namespaceWatch is one namespace's watch of messages.
type namespaceWatch struct {
	stop func()
	// idleSince is when the namespace was last found without an executor
	// or live task of this node (zero while it has one).
	idleSince time.Time
}

func newMessageWatches(events kubernetes.Interface, cache client.Reader, relay *messageRelay, node string, clk clock.WithTicker, log logr.Logger) *messageWatches {
	return &messageWatches{events: events, cache: cache, relay: relay, node: node, clock: clk, log: log,
		wake: make(chan struct{}, 1), running: map[string]*namespaceWatch{}}
}

// poke has the namespaces checked soon, as when a task arrives.
func (w *messageWatches) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run keeps the watches in step with the namespaces until ctx ends, then
// stops them all.
func (w *messageWatches) run(ctx context.Context) {
	t := w.clock.NewTicker(messageWatchResync)
	defer t.Stop()
	defer w.stopAll()
	for {
		if err := w.sync(ctx); err != nil && ctx.Err() == nil {
			w.log.Error(err, "listing the namespaces of this node's executors for their messages")
		}
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-t.C():
		}
	}
}

// sync starts a watch for each namespace that needs one and stops those
// idle for messageWatchLinger.
func (w *messageWatches) sync(ctx context.Context) error {
	need, err := w.namespaces(ctx)
	if err != nil {
		return err
	}
	now := w.clock.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for ns := range need {
		if nw, ok := w.running[ns]; ok {
			nw.idleSince = time.Time{}
			continue
		}
		w.running[ns] = w.start(ctx, ns)
	}
	for ns, nw := range w.running {
		switch {
		case need.Has(ns):
		case nw.idleSince.IsZero():
			nw.idleSince = now
		case now.Sub(nw.idleSince) >= messageWatchLinger:
			nw.stop()
			delete(w.running, ns)
		}
	}
	return nil
}

// namespaces are those of this node's executor pods and live Tasks.
func (w *messageWatches) namespaces(ctx context.Context) (sets.Set[string], error) {
	need := sets.New[string]()
	var pl corev1.PodList
	if err := w.cache.List(ctx, &pl, client.MatchingLabels{kmv1.LabelComponent: "executor"}, client.MatchingFields{indexPodNode: w.node}); err != nil {
		return nil, err
	}
	for i := range pl.Items {
		need.Insert(pl.Items[i].Namespace)
	}
	var tl kmv1.TaskList
	if err := w.cache.List(ctx, &tl); err != nil {
		return nil, err
	}
	for i := range tl.Items {
		if !tl.Items[i].Status.State.IsTerminal() {
			need.Insert(tl.Items[i].Namespace)
		}
	}
	return need, nil
}

// start starts the watch of namespace ns; the caller holds mu.
func (w *messageWatches) start(ctx context.Context, ns string) *namespaceWatch {
	ctx, cancel := context.WithCancel(ctx)
	selector := MessageSelector(w.node).String()
	factory := informers.NewSharedInformerFactoryWithOptions(w.events, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }))
	inf := factory.Events().V1().Events().Informer()
	// The namespace's tenants create these Events: the informer keeps
	// only what a message holds (messages.Slim).
	err := inf.SetTransform(messages.Slim)
	var reg toolscache.ResourceEventHandlerRegistration
	if err == nil {
		reg, err = inf.AddEventHandler(w.relay.handler())
	}
	if err == nil {
		// A watch request in flight when the namespace's watch is
		// stopped fails with "context canceled": that is the stop, not
		// an error worth logging.
		err = inf.SetWatchErrorHandlerWithContext(func(hctx context.Context, r *toolscache.Reflector, err error) {
			if ctx.Err() == nil {
				toolscache.DefaultWatchErrorHandler(hctx, r, err)
			}
		})
	}
	if err != nil {
		// Only an informer that already started or stopped refuses
		// these.
		cancel()
		return &namespaceWatch{stop: func() {}}
	}
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if toolscache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
			w.log.V(1).Info("watching the scheduler messages of a namespace", "namespace", ns)
			w.relay.namespaceSynced(ns)
		}
		<-ctx.Done()
		factory.Shutdown()
		w.relay.namespaceStopped(ns)
	}()
	return &namespaceWatch{stop: func() { cancel(); <-done }}
}

// stopAll stops every watch.
func (w *messageWatches) stopAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ns, nw := range w.running {
		nw.stop()
		delete(w.running, ns)
	}
}
