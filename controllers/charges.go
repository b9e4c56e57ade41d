package controllers

import (
	corev1 "k8s.io/api/core/v1"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/resources"
)

// charges is the one rule for what a task takes from its agent: its own
// resources, plus, for the first task of a custom executor on that agent,
// the executor's own resources (an executor pod holds them once, however
// many tasks it runs). A charges value remembers which executors it has
// charged; feed it the tasks in the order they were staged.
type charges map[executorOnAgent]bool

type executorOnAgent struct {
	agentID  string
	executor kmv1.ExecutorRef
}

// of returns what task t, on agent agentID, takes, and records its
// executor as charged.
func (c charges) of(t *kmv1.Task, agentID string) corev1.ResourceList {
	rl := t.Spec.Resources.Core()
	if t.Spec.Executor == nil {
		return rl
	}
	k := executorOnAgent{agentID: agentID, executor: t.Executor()}
	if c[k] {
		return rl
	}
	c[k] = true
	return resources.Add(rl, t.Spec.Executor.Resources.Core())
}

// mark records t's executor as already charged on agentID, without
// charging anything: for an executor whose resources are counted elsewhere.
func (c charges) mark(t *kmv1.Task, agentID string) {
	if t.Spec.Executor != nil {
		c[executorOnAgent{agentID: agentID, executor: t.Executor()}] = true
	}
}
