package controllers

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// countTasks fills the task counts, allocated resources, dominant share and
// outstanding offers.
func (r *frameworkController) countTasks(ctx context.Context, fw *kmv1.Framework, tasks []kmv1.Task) error {
	m := r.m
	var counts kmv1.TaskCounts
	alloc := corev1.ResourceList{}
	for i := range tasks {
		t := &tasks[i]
		if p := countFor(&counts, t.Status.State); p != nil {
			*p++
		}
		if liveTask(t) {
			addTo(alloc, t.Spec.Resources)
		}
	}
	var offers kmv1.OfferList
	if err := m.Client.List(ctx, &offers, client.InNamespace(fw.Namespace), client.MatchingFields{IndexOfferFramework: fw.Name},
		client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing the offers of %s: %w", fw.Name, err)
	}
	st := &fw.Status
	st.Tasks = counts
	st.Allocated = kmv1.ResourceList(alloc)
	if len(alloc) == 0 {
		st.Allocated = nil
	}
	st.OutstandingOffers = int32(len(offers.Items))
	// The share DRF ranks by, from the last allocation cycle: live tasks,
	// their executors and outstanding offers.
	st.DominantShare = strconv.FormatFloat(m.shares.get(nsName(fw)), 'f', 4, 64)
	return nil
}

// addTo adds rl to sum in place. Unlike resources.Add it copies no list,
// which matters when it runs over every task of a framework; rl is only
// read (it may be a cached Task's).
func addTo(sum corev1.ResourceList, rl kmv1.ResourceList) {
	for name, q := range rl {
		total := sum[name]
		total.Add(q)
		sum[name] = total
	}
}

func countFor(c *kmv1.TaskCounts, s kmv1.TaskState) *int32 {
	switch s {
	case kmv1.TaskStaging:
		return &c.Staging
	case kmv1.TaskStarting:
		return &c.Starting
	case kmv1.TaskRunning:
		return &c.Running
	case kmv1.TaskKilling:
		return &c.Killing
	case kmv1.TaskFinished:
		return &c.Finished
	case kmv1.TaskFailed:
		return &c.Failed
	case kmv1.TaskKilled:
		return &c.Killed
	case kmv1.TaskError:
		return &c.Error
	case kmv1.TaskLost:
		return &c.Lost
	case kmv1.TaskDropped:
		return &c.Dropped
	}
	return nil
}

// collectTerminalTasks deletes the oldest terminal tasks beyond the
// per-framework limit, so etcd does not grow without bound.
func (m *Master) collectTerminalTasks(ctx context.Context, tasks []kmv1.Task) error {
	limit := m.Options.TerminalTaskLimit
	if limit <= 0 {
		return nil
	}
	var terminal []*kmv1.Task
	for i := range tasks {
		if tasks[i].Status.State.IsTerminal() {
			terminal = append(terminal, &tasks[i])
		}
	}
	if len(terminal) <= limit {
		return nil
	}
	sort.Slice(terminal, func(i, j int) bool { return completedAt(terminal[i]).Before(completedAt(terminal[j])) })
	for _, t := range terminal[:len(terminal)-limit] {
		if _, err := m.deletes.Delete(ctx, t); err != nil {
			return fmt.Errorf("collecting terminal tasks: %w", err)
		}
	}
	return nil
}

func completedAt(t *kmv1.Task) time.Time {
	if t.Status.CompletionTime != nil {
		return t.Status.CompletionTime.Time
	}
	return t.CreationTimestamp.Time
}
