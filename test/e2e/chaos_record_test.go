//go:build e2e

package e2e

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/test/chaos/record"
)

// recorder writes the fault campaign's record: every change of every
// Task, Agent and Framework and of the master Lease, from watches started
// before the workload, and every fault and expectation the run adds. A
// watch that ends (the API server restarted, a timeout) resumes from the
// last resourceVersion it saw; one that the API server no longer serves
// from there (410 Gone) lists again, and records each object again as
// ADDED.
type recorder struct {
	mu   sync.Mutex
	w    *record.Writer
	f    *os.File
	err  error
	seen map[string]int
	wg   sync.WaitGroup
}

// newRecorder starts recording into path; stop ends it.
func newRecorder(ctx context.Context, path string) (*recorder, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	r := &recorder{w: record.NewWriter(f), f: f, seen: map[string]int{}}
	ready := make(chan struct{}, 4)
	follow := func(list client.ObjectList, kind string, opts ...client.ListOption) {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.follow(ctx, list, kind, ready, opts...)
		}()
	}
	follow(&kmv1.TaskList{}, record.KindTask)
	follow(&kmv1.AgentList{}, record.KindAgent)
	follow(&kmv1.FrameworkList{}, record.KindFramework)
	follow(&coordinationv1.LeaseList{}, record.KindLease, client.InNamespace(systemNS),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", kmv1.MasterLeaseName)})
	for range 4 {
		select {
		case <-ready:
		case <-time.After(time.Minute):
			return nil, errors.New("the record's watches did not start within a minute")
		}
	}
	return r, nil
}

// add appends e to the record.
func (r *recorder) add(e record.Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.At.IsZero() {
		e.At = time.Now()
	}
	r.seen[e.Kind]++
	if err := r.w.Write(e); err != nil && r.err == nil {
		r.err = err
	}
}

// stop waits for the watches to end (their context cancelled) and closes
// the record.
func (r *recorder) stop() error {
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.f.Close(); err != nil && r.err == nil {
		r.err = err
	}
	return r.err
}

// follow lists and watches one kind until ctx ends; it signals ready once
// its first list is recorded.
func (r *recorder) follow(ctx context.Context, list client.ObjectList, kind string, ready chan<- struct{}, opts ...client.ListOption) {
	rv := ""
	signalled := false
	for ctx.Err() == nil {
		if rv == "" {
			if err := c.List(ctx, list, opts...); err != nil {
				sleepCtx(ctx, time.Second)
				continue
			}
			items, _ := meta.ExtractList(list)
			for _, o := range items {
				r.add(entryOf(kind, record.Added, o.(client.Object)))
			}
			rv = list.GetResourceVersion()
			if !signalled {
				ready <- struct{}{}
				signalled = true
			}
		}
		w, err := c.Watch(ctx, list, append(opts, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})...)
		if err != nil {
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				rv = ""
			}
			sleepCtx(ctx, 500*time.Millisecond)
			continue
		}
		rv = r.drain(ctx, w, kind, rv)
		w.Stop()
	}
}

// drain records w's events until it ends, and returns the
// resourceVersion to resume from ("" to list again).
func (r *recorder) drain(ctx context.Context, w watch.Interface, kind, rv string) string {
	for {
		select {
		case <-ctx.Done():
			return rv
		case ev, ok := <-w.ResultChan():
			if !ok {
				return rv
			}
			switch ev.Type {
			case watch.Error:
				if s, ok := ev.Object.(*metav1.Status); ok && s.Code == 410 {
					return ""
				}
				return rv
			case watch.Bookmark:
				if o, ok := ev.Object.(client.Object); ok {
					rv = o.GetResourceVersion()
				}
			case watch.Added, watch.Modified, watch.Deleted:
				o := ev.Object.(client.Object)
				r.add(entryOf(kind, string(ev.Type), o))
				rv = o.GetResourceVersion()
			}
		}
	}
}

// entryOf is the record entry of a watch event of o.
func entryOf(kind, typ string, o client.Object) record.Entry {
	e := record.Entry{Kind: kind, Type: typ, Namespace: o.GetNamespace(), Name: o.GetName(),
		ResourceVersion: o.GetResourceVersion(), UID: string(o.GetUID())}
	switch o := o.(type) {
	case *kmv1.Task:
		t := &record.Task{Framework: string(o.Spec.Framework), State: string(o.Status.State), Reason: string(o.Status.Reason),
			Source: string(o.Status.Source), AgentID: o.Status.AgentID, Resources: quantities(o.Spec.Resources.Core()), Data: o.Status.Data}
		if t.AgentID == "" {
			t.AgentID = o.Spec.AgentID
		}
		if o.Spec.Executor != nil {
			t.Executor = o.Spec.Executor.ExecutorID
			t.ExecutorResources = quantities(o.Spec.Executor.Resources.Core())
		}
		e.Task = t
	case *kmv1.Agent:
		e.Agent = &record.Agent{Phase: string(o.Status.Phase), AgentID: o.Status.AgentID, Total: quantities(o.Spec.Resources.Core())}
		if o.Status.UnreachableTime != nil {
			e.Agent.UnreachableTime = ptr.To(o.Status.UnreachableTime.Time)
		}
	case *kmv1.Framework:
		e.Framework = &record.Framework{Phase: string(o.Status.Phase), Result: o.Status.Result, Message: o.Status.Message}
	case *coordinationv1.Lease:
		l := &record.Lease{Holder: ptr.Deref(o.Spec.HolderIdentity, ""), Duration: ptr.Deref(o.Spec.LeaseDurationSeconds, 0),
			Transitions: ptr.Deref(o.Spec.LeaseTransitions, 0)}
		if o.Spec.RenewTime != nil {
			l.RenewTime = ptr.To(o.Spec.RenewTime.Time)
		}
		e.Lease = l
	}
	return e
}

// quantities writes a resource list as strings.
func quantities(rl corev1.ResourceList) map[string]string {
	out := make(map[string]string, len(rl))
	for n, q := range rl {
		out[string(n)] = q.String()
	}
	return out
}

// sleepCtx sleeps d, or less if ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
