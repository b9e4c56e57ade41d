package schedcache

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/metrics"
)

// TestTasksTerminatedCountsEveryEndOnce: each end the cache sees happen
// counts once, by state and source, whoever wrote it; a task first seen
// terminal, or seen again terminal, does not count.
func TestTasksTerminatedCountsEveryEndOnce(t *testing.T) {
	lost := metrics.TasksTerminated.WithLabelValues(string(kmv1.TaskLost), string(kmv1.SourceMaster))
	failed := metrics.TasksTerminated.WithLabelValues(string(kmv1.TaskFailed), string(kmv1.SourceExecutor))
	lost0, failed0 := testutil.ToFloat64(lost), testutil.ToFloat64(failed)
	with := func(task *kmv1.Task, src kmv1.TaskSource) *kmv1.Task { task.Status.Source = src; return task }

	c, _ := newCache()
	c.Upsert(activeAgent("n1", "a1", "cpu", "8"))
	c.Upsert(liveTask("old", kmv1.TaskLost)) // ended before this cache watched
	c.Upsert(liveTask("a", kmv1.TaskRunning))
	c.Upsert(liveTask("b", ""))
	c.Upsert(with(liveTask("a", kmv1.TaskLost), kmv1.SourceMaster))
	c.Upsert(with(liveTask("a", kmv1.TaskLost), kmv1.SourceMaster)) // a resync
	c.Upsert(with(liveTask("b", kmv1.TaskFailed), kmv1.SourceExecutor))
	if got := testutil.ToFloat64(lost) - lost0; got != 1 {
		t.Errorf("TASK_LOST counted %v times, want 1", got)
	}
	if got := testutil.ToFloat64(failed) - failed0; got != 1 {
		t.Errorf("TASK_FAILED (SOURCE_EXECUTOR) counted %v times, want 1", got)
	}
}
