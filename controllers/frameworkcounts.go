package controllers

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/schedcache"
)

// countTasks fills the task counts and allocated resources, from the
// scheduling cache's count of the framework's tasks, the dominant share and
// the outstanding offers.
func (r *frameworkController) countTasks(ctx context.Context, fw *kmv1.Framework, counted schedcache.FrameworkTasks) error {
	m := r.m
	var offers kmv1.OfferList
	if err := m.Client.List(ctx, &offers, client.InNamespace(fw.Namespace), client.MatchingFields{IndexOfferFramework: fw.Name},
		client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing the offers of %s: %w", fw.Name, err)
	}
	st := &fw.Status
	st.Tasks = counted.Counts
	st.Allocated = kmv1.ResourceList(counted.Allocated)
	st.OutstandingOffers = int32(len(offers.Items))
	// The share DRF ranks by, from the last allocation cycle: live tasks,
	// their executors and outstanding offers.
	st.DominantShare = strconv.FormatFloat(m.shares.get(nsName(fw)), 'f', 4, 64)
	return nil
}

// Collecting terminal tasks deletes them.
//
// +kubebuilder:rbac:groups=kubemesos.io,resources=tasks,verbs=delete

// collectTerminalTasks deletes the oldest terminal tasks beyond the
// per-framework limit (--terminal-task-limit), so etcd does not grow
// without bound.
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
