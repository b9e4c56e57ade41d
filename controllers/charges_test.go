package controllers

import (
	"testing"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/resources"
)

func TestChargesTakeAnExecutorOncePerAgent(t *testing.T) {
	withExecutor := func(name, exec string) *kmv1.Task {
		tk := b.MakeTask(name, "ns").Framework("fw").Resources("cpu", "1").Executor(exec, "img").Obj()
		tk.Spec.Executor.Resources = b.Resources("cpu", "500m", "memory", "64Mi")
		return tk
	}
	c := charges{}
	for _, tc := range []struct {
		task  *kmv1.Task
		agent string
		want  string
	}{
		{withExecutor("t1", "e"), "a1", "cpu=1500m,memory=64Mi"}, // the first task pays for the executor
		{withExecutor("t2", "e"), "a1", "cpu=1"},                 // the same executor on the same agent
		{withExecutor("t3", "e"), "a2", "cpu=1500m,memory=64Mi"}, // another agent: another pod
		{withExecutor("t4", "f"), "a1", "cpu=1500m,memory=64Mi"}, // another executor
		{b.MakeTask("t5", "ns").Framework("fw").Resources("cpu", "1").Command("img").Obj(), "a1", "cpu=1"},
	} {
		if got := resources.String(c.of(tc.task, tc.agent)); got != tc.want {
			t.Errorf("%s on %s: charged %s, want %s", tc.task.Name, tc.agent, got, tc.want)
		}
	}
	marked := charges{}
	marked.mark(withExecutor("running", "e"), "a1")
	if got := resources.String(marked.of(withExecutor("next", "e"), "a1")); got != "cpu=1" {
		t.Errorf("an executor already running: charged %s, want cpu=1", got)
	}
}
