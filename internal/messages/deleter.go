package messages

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Deleter deletes the Events of delivered messages in the background,
// retrying with backoff until each is gone, so that a receiver never waits
// on the API server between two deliveries.
type Deleter struct {
	c     client.Client
	log   logr.Logger
	queue workqueue.TypedRateLimitingInterface[eventKey]
}

type eventKey struct {
	namespace, name string
	uid             types.UID
}

// NewDeleter returns a Deleter that deletes with c. Run it.
func NewDeleter(c client.Client, log logr.Logger) *Deleter {
	rl := workqueue.NewTypedItemExponentialFailureRateLimiter[eventKey](100*time.Millisecond, 30*time.Second)
	return &Deleter{c: c, log: log, queue: workqueue.NewTypedRateLimitingQueueWithConfig(rl,
		workqueue.TypedRateLimitingQueueConfig[eventKey]{Name: "message-deleter"})}
}

// Delete queues the deletion of the Event of m.
func (d *Deleter) Delete(namespace string, m Message) {
	d.queue.Add(eventKey{namespace: namespace, name: m.EventName, uid: m.UID})
}

// Run deletes until ctx ends.
func (d *Deleter) Run(ctx context.Context) {
	go func() {
		<-ctx.Done()
		d.queue.ShutDown()
	}()
	for {
		k, stop := d.queue.Get()
		if stop {
			return
		}
		d.delete(ctx, k)
		d.queue.Done(k)
	}
}

func (d *Deleter) delete(ctx context.Context, k eventKey) {
	e := &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: k.namespace, Name: k.name}}
	var opts []client.DeleteOption
	if k.uid != "" {
		// A message sent again after this one was delivered is a new
		// Event of the same name: it is its receiver's to drop.
		opts = append(opts, client.Preconditions{UID: &k.uid})
	}
	err := d.c.Delete(ctx, e, opts...)
	switch {
	case err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		d.queue.Forget(k)
	case ctx.Err() != nil:
	default:
		d.log.V(1).Info("deleting a delivered message failed; retrying", "event", k.namespace+"/"+k.name, "error", err.Error())
		d.queue.AddRateLimited(k)
	}
}
