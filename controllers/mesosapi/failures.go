package mesosapi

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// executorContainer is the container of a custom executor's pod.
const executorContainer = "executor"

// watchFailures sends Event FAILURE, as Mesos does: to every subscribed
// framework when an agent is lost (marked Unreachable or Gone, or its
// Agent deleted), and to a framework when a pod of one of its custom
// executors ends. Both come from what the master caches already: Agents,
// and the pods labelled with a framework.
func (s *Server) watchFailures(ctx context.Context, informers cache.Informers) error {
	agents, err := informers.GetInformer(ctx, &kmv1.Agent{})
	if err != nil {
		return fmt.Errorf("watching Agents: %w", err)
	}
	_, err = agents.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		UpdateFunc: func(oldObj, newObj any) {
			was, ok1 := oldObj.(*kmv1.Agent)
			now, ok2 := newObj.(*kmv1.Agent)
			if ok1 && ok2 && !agentLost(was) && agentLost(now) {
				s.agentFailed(now)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if a, ok := obj.(*kmv1.Agent); ok && !agentLost(a) {
				s.agentFailed(a)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("watching Agents: %w", err)
	}
	pods, err := informers.GetInformer(ctx, &corev1.Pod{})
	if err != nil {
		return fmt.Errorf("watching executor pods: %w", err)
	}
	_, err = pods.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		UpdateFunc: func(oldObj, newObj any) {
			was, ok1 := oldObj.(*corev1.Pod)
			now, ok2 := newObj.(*corev1.Pod)
			if ok1 && ok2 && !podEnded(was) && podEnded(now) {
				s.executorEnded(now)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok && !podEnded(p) {
				s.executorEnded(p)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("watching executor pods: %w", err)
	}
	return nil
}

// agentLost reports whether the master gave up on an agent.
func agentLost(a *kmv1.Agent) bool {
	return a.Status.Phase == kmv1.AgentUnreachable || a.Status.Phase == kmv1.AgentGone
}

// podEnded reports whether a pod's containers are done for good.
func podEnded(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// agentFailed sends FAILURE {agent_id} to every open stream.
func (s *Server) agentFailed(a *kmv1.Agent) {
	if a.Status.AgentID == "" {
		return // never admitted: no framework was offered it
	}
	s.log.Info("agent lost; telling the subscribed frameworks", "agent", a.Name, "agentID", a.Status.AgentID, "phase", a.Status.Phase)
	for _, st := range s.streams.all() {
		st.send(failureEvent(a.Status.AgentID, "", nil))
	}
}

// failureEvent is a FAILURE of an agent (executorID "") or of an executor
// on it, with its wait status when known; agentID "" leaves it out.
func failureEvent(agentID, executorID string, status *int32) *schedulerv1.Event {
	f := &schedulerv1.Event_Failure{Status: status}
	if agentID != "" {
		f.AgentId = &mesosv1.AgentID{Value: ptr.To(agentID)}
	}
	if executorID != "" {
		f.ExecutorId = &mesosv1.ExecutorID{Value: ptr.To(executorID)}
	}
	return &schedulerv1.Event{Type: schedulerv1.Event_FAILURE.Enum(), Failure: f}
}

// executorEnded sends FAILURE {agent_id, executor_id, status} to the open
// stream of the framework of a custom executor's pod that ended. status
// is, as in Mesos, a wait status: the exit code shifted left by 8, or
// the signal that ended the executor; it is left out when the pod ended
// before the container's end was recorded.
func (s *Server) executorEnded(p *corev1.Pod) {
	execID, agentID := p.Annotations[kmv1.AnnotationExecutorID], p.Annotations[kmv1.AnnotationAgentID]
	if p.Labels[kmv1.LabelComponent] != "executor" || p.Labels[kmv1.LabelTask] != "" || execID == "" {
		return // a command task's pod: its task's update tells
	}
	st := s.streamOfFramework(p.Namespace, p.Labels[kmv1.LabelFramework])
	if st == nil {
		return
	}
	status := waitStatus(p)
	s.log.V(1).Info("executor ended; telling its framework", "pod", p.Namespace+"/"+p.Name, "executor", execID, "status", ptr.Deref(status, -1))
	st.send(failureEvent(agentID, execID, status))
}

// waitStatus is the wait status of a pod's executor container, or nil
// when its end is not recorded.
func waitStatus(p *corev1.Pod) *int32 {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name != executorContainer || cs.State.Terminated == nil {
			continue
		}
		term := cs.State.Terminated
		if term.Signal != 0 {
			return ptr.To(term.Signal & 0x7f)
		}
		return ptr.To((term.ExitCode & 0xff) << 8)
	}
	return nil
}
