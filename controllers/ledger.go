package controllers

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/resources"
)

// ledger is the master's in-memory bookkeeping between its own writes and
// the moment its cache shows them (the expectations pattern), plus the
// decline filters. It is rebuilt from the API server on every leader start:
// nothing in it is needed to keep the registry's invariants, only to avoid
// acting twice on a stale cache.
type ledger struct {
	mu sync.Mutex
	// offerUse is what admitted tasks took from each offer.
	offerUse map[types.NamespacedName]corev1.ResourceList
	// firstUse is when each offer's first task was admitted.
	firstUse map[types.NamespacedName]time.Time
	// admitted holds tasks that this master staged and whose STAGING the
	// cache may not show yet, with the agent and resources they take.
	admitted map[types.UID]admission
	// created holds offers created but perhaps not yet in the cache.
	created map[types.NamespacedName]createdOffer
	// deleted holds offers this master deleted, perhaps still in the cache.
	deleted map[types.NamespacedName]struct{}
	// filters holds decline filters: until when a framework refuses an agent.
	filters map[filterKey]time.Time
	// rebuilt is false until the ledger was rebuilt after leader start.
	rebuilt bool
}

type admission struct {
	agentID   string
	framework types.NamespacedName
	resources corev1.ResourceList
	// executor is the task's custom executor, zero for a command task.
	// command task.
	executor kmv1.ExecutorRef
	// at is when the task was staged.
	at time.Time
}

type createdOffer struct {
	framework types.NamespacedName
	agentID   string
	resources corev1.ResourceList
}

type filterKey struct {
	framework types.NamespacedName
	agentID   string
}

func newLedger() *ledger {
	return &ledger{
		offerUse: map[types.NamespacedName]corev1.ResourceList{},
		firstUse: map[types.NamespacedName]time.Time{},
		admitted: map[types.UID]admission{},
		created:  map[types.NamespacedName]createdOffer{},
		deleted:  map[types.NamespacedName]struct{}{},
		filters:  map[filterKey]time.Time{},
	}
}

// use charges resources to an offer.
func (l *ledger) use(offer types.NamespacedName, rl corev1.ResourceList, now time.Time) {
	l.offerUse[offer] = resources.Add(l.offerUse[offer], rl)
	if _, ok := l.firstUse[offer]; !ok {
		l.firstUse[offer] = now
	}
}

// forgetOffer drops what the ledger knows of a gone offer.
func (l *ledger) forgetOffer(offer types.NamespacedName) {
	delete(l.offerUse, offer)
	delete(l.firstUse, offer)
	delete(l.created, offer)
}

// admittedExecutors returns the custom executors charged by the tasks
// staged but not yet in the cache: their resources are in those entries.
func (l *ledger) admittedExecutors() charges {
	c := charges{}
	for _, ad := range l.admitted {
		if ad.executor != (kmv1.ExecutorRef{}) {
			c[executorOnAgent{agentID: ad.agentID, executor: ad.executor}] = true
		}
	}
	return c
}

// filtered reports whether the pair is under a decline filter at now.
func (l *ledger) filtered(k filterKey, now time.Time) bool {
	until, ok := l.filters[k]
	return ok && now.Before(until)
}

// expireFilters drops filters that ended before now.
func (l *ledger) expireFilters(now time.Time) {
	for k, until := range l.filters {
		if !now.Before(until) {
			delete(l.filters, k)
		}
	}
}

// rebuildLedger restores, after a leader start, what staged tasks took
// from offers that still exist (their resources, and their executor's for
// the first task of an executor), so no offer's resources are used twice.
// The caller holds the ledger lock.
func (m *Master) rebuildLedger(ctx context.Context) error {
	l := m.ledger
	// Once per leadership: every offer and every task (an ended task's
	// use of an offer still counts while the offer exists).
	var offerList kmv1.OfferList
	var taskList kmv1.TaskList
	if err := m.Client.List(ctx, &offerList); err != nil {
		return fmt.Errorf("reading the offers: %w", err)
	}
	if err := m.Client.List(ctx, &taskList); err != nil {
		return fmt.Errorf("reading the tasks: %w", err)
	}
	offers := map[types.NamespacedName]bool{}
	for i := range offerList.Items {
		offers[nsName(&offerList.Items[i])] = true
	}
	tasks := make([]*kmv1.Task, 0, len(taskList.Items))
	for i := range taskList.Items {
		tasks = append(tasks, &taskList.Items[i])
	}
	sort.Slice(tasks, func(i, j int) bool { return stagedAt(tasks[i]).Before(stagedAt(tasks[j])) })
	charged := charges{}
	for _, t := range tasks {
		if t.Status.State == "" || t.Status.State == kmv1.TaskError || t.Status.State == kmv1.TaskDropped {
			continue
		}
		rl := charged.of(t, t.PlacedOn())
		for _, id := range t.Spec.OfferIDs {
			key := types.NamespacedName{Namespace: t.Namespace, Name: id}
			if offers[key] {
				l.use(key, rl, stagedAt(t))
				break
			}
		}
	}
	l.rebuilt = true
	return nil
}

func stagedAt(t *kmv1.Task) time.Time {
	if t.Status.StagingTime != nil {
		return t.Status.StagingTime.Time
	}
	return t.CreationTimestamp.Time
}

// admittedGrace is how long a staged task may stay out of the cache
// before the ledger forgets it (the task was deleted meanwhile).
const admittedGrace = 30 * time.Second

// settleLedger drops expectations that the cache now shows, and those of
// tasks deleted before the cache ever showed them staged.
func (m *Master) settleLedger(snap *snapshot, now time.Time) {
	l := m.ledger
	inCache := map[types.NamespacedName]bool{}
	for _, o := range snap.offers {
		inCache[nsName(o)] = true
	}
	for key := range l.created {
		if inCache[key] {
			delete(l.created, key)
		}
	}
	// l.deleted is settled by the informer's delete handler, not here: the
	// cache drops an object before its handlers run, and a deletion the
	// handler cannot match to the master would count as a decline.
	for uid, ad := range l.admitted {
		if snap.staged(uid) || now.Sub(ad.at) > admittedGrace {
			delete(l.admitted, uid)
		}
	}
}
