package controllers

import (
	"context"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/restricted"
)

// SchedulerPodName is the name of the pod that runs a framework's scheduler.
func SchedulerPodName(framework string) string { return framework + "-scheduler" }

// AnnotationSchedulerRestarts on a Framework counts the restarts of its
// scheduler pod, for the restart backoff.
const AnnotationSchedulerRestarts = "kubemesos.io/scheduler-restarts"

// backoffReset is how long a scheduler pod runs for its successor to start
// with the shortest delay again, as the kubelet's container backoff.
const backoffReset = 10 * time.Minute

// podStarted is when a pod's container started, or the best guess.
func podStarted(p *corev1.Pod) time.Time {
	if t := terminated(p); t != nil && !t.StartedAt.IsZero() {
		return t.StartedAt.Time
	}
	return podBegan(p)
}

// podEnded is when a pod's container ended, or the best guess.
func podEnded(p *corev1.Pod) time.Time {
	if t := terminated(p); t != nil && !t.FinishedAt.IsZero() {
		return t.FinishedAt.Time
	}
	return podBegan(p)
}

// terminated is the state of a pod's container that ended, or nil.
func terminated(p *corev1.Pod) *corev1.ContainerStateTerminated {
	for _, cs := range p.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil {
			return t
		}
	}
	return nil
}

// podBegan is when a pod started, or else was made.
func podBegan(p *corev1.Pod) time.Time {
	if p.Status.StartTime != nil {
		return p.Status.StartTime.Time
	}
	return p.CreationTimestamp.Time
}

// ensureSchedulerPod runs spec.scheduler as the pod <name>-scheduler,
// and replaces it, with a backoff, when it ended while the framework goes
// on. It returns when to look again.
func (r *frameworkController) ensureSchedulerPod(ctx context.Context, fw *kmv1.Framework) (time.Duration, error) {
	m := r.m
	if fw.Spec.Scheduler == nil {
		return 0, nil
	}
	key := types.NamespacedName{Namespace: fw.Namespace, Name: SchedulerPodName(fw.Name)}
	var pod corev1.Pod
	err := m.Client.Get(ctx, key, &pod)
	if err == nil && !metav1.IsControlledBy(&pod, fw) {
		// Somebody else's pod holds the name: never touch it.
		m.Recorder.Eventf(fw, &pod, corev1.EventTypeWarning, "SchedulerPodConflict", "RunScheduler",
			"pod %s exists and is not this framework's; rename or delete it to let the master run the scheduler", key.Name)
		return time.Minute, nil
	}
	if err == nil && fw.Status.Phase == kmv1.FrameworkDisconnected {
		if node, lost, err := r.onLostNode(ctx, &pod); err != nil {
			return 0, err
		} else if lost {
			// Its node's kubelet is gone: as far as the API server knows the
			// pod runs on (or is being deleted) for good, and the framework
			// would fail at its failover timeout. Its scheduler has lost the
			// Lease, which a new pod's scheduler must take before it acts:
			// removing the old pod at once (no kubelet will confirm it)
			// starts no second active scheduler.
			uid := pod.UID
			err := m.frameworksClient.Delete(ctx, &pod, client.GracePeriodSeconds(0), client.Preconditions{UID: &uid})
			if client.IgnoreNotFound(err) != nil && !apierrors.IsConflict(err) {
				return 0, fmt.Errorf("removing scheduler pod %s of unready node %s: %w", key, node, err)
			}
			m.Recorder.Eventf(fw, &pod, corev1.EventTypeWarning, "SchedulerPodReplaced", "RestartScheduler",
				"scheduler pod %s is on node %s, which is not ready, and the scheduler lost its Lease; starting a new one", pod.Name, node)
			return time.Second, nil
		}
	}
	if err == nil {
		if pod.DeletionTimestamp == nil && (pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded) {
			// Restart with a growing delay, as a kubelet backs off a
			// crashing container: 10s, 20s, 40s … up to 5m; and, as the
			// kubelet, start again from 10s after a pod that ran for 10
			// minutes, so that a scheduler evicted now and then is never
			// held back past its framework's failover timeout.
			restarts, _ := strconv.Atoi(fw.Annotations[AnnotationSchedulerRestarts])
			if podEnded(&pod).Sub(podStarted(&pod)) >= backoffReset {
				restarts = 0
			}
			backoff := min(10*time.Second<<min(restarts, 5), 5*time.Minute)
			if wait := podEnded(&pod).Add(backoff).Sub(m.Clock.Now()); wait > 0 {
				return wait, nil
			}
			// Locked on the resourceVersion: a count read from a cache that
			// lags would start again from an older one.
			patch := client.MergeFromWithOptions(fw.DeepCopy(), client.MergeFromWithOptimisticLock{})
			if fw.Annotations == nil {
				fw.Annotations = map[string]string{}
			}
			fw.Annotations[AnnotationSchedulerRestarts] = strconv.Itoa(restarts + 1)
			if err := m.frameworksClient.Patch(ctx, fw, patch); err != nil {
				return 0, fmt.Errorf("counting scheduler restarts: %w", err)
			}
			if _, err := m.deletes.Delete(ctx, &pod); err != nil {
				return 0, fmt.Errorf("removing the ended scheduler pod: %w", err)
			}
			// Told only once both writes are done.
			m.Recorder.Eventf(fw, &pod, corev1.EventTypeWarning, "SchedulerRestarted", "RestartScheduler",
				"scheduler pod %s ended (%s) before the framework finished; starting a new one (restart %d)", pod.Name, pod.Status.Phase, restarts+1)
		}
		return 0, nil
	}
	if !apierrors.IsNotFound(err) {
		return 0, fmt.Errorf("reading scheduler pod %s: %w", key, err)
	}
	pod = SchedulerPod(fw)
	if err := controllerutil.SetControllerReference(fw, &pod, m.Client.Scheme()); err != nil {
		return 0, fmt.Errorf("owning the scheduler pod: %w", err)
	}
	if err := m.frameworksClient.Create(ctx, &pod); err != nil && !apierrors.IsAlreadyExists(err) {
		return 0, fmt.Errorf("creating scheduler pod %s: %w", key, err)
	}
	return 0, nil
}

// onLostNode reports whether a pod is bound to a node that is gone or not
// Ready (its kubelet stopped posting status), and names the node.
func (r *frameworkController) onLostNode(ctx context.Context, pod *corev1.Pod) (string, bool, error) {
	name := pod.Spec.NodeName
	if name == "" {
		return "", false, nil
	}
	var node corev1.Node
	if err := r.m.Client.Get(ctx, types.NamespacedName{Name: name}, &node); apierrors.IsNotFound(err) {
		return name, true, nil
	} else if err != nil {
		return name, false, fmt.Errorf("reading node %s of the scheduler pod: %w", name, err)
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return name, c.Status != corev1.ConditionTrue, nil
		}
	}
	return name, false, nil
}

// SchedulerPod builds the pod that runs a framework's scheduler from
// spec.scheduler, which must be set. Only the image, command, arguments,
// environment, resources and ServiceAccount come from the framework; the
// rest is fixed here: Pod Security's "restricted" settings, no host
// namespaces or volumes beyond the ServiceAccount token, no node, and no
// restart by the kubelet (the master restarts it with a backoff).
func SchedulerPod(fw *kmv1.Framework) corev1.Pod {
	s := fw.Spec.Scheduler
	env := append(kmv1.EnvVars(s.Env),
		corev1.EnvVar{Name: "KUBEMESOS_FRAMEWORK", Value: fw.Name},
		corev1.EnvVar{Name: "KUBEMESOS_NAMESPACE", Value: fw.Namespace})
	c := corev1.Container{
		Name: "scheduler", Image: s.Image, ImagePullPolicy: s.ImagePullPolicy,
		Command: s.Command, Args: s.Args, Env: env,
		Resources:       corev1.ResourceRequirements{Requests: s.Resources.Requests.Core(), Limits: s.Resources.Limits.Core()},
		SecurityContext: restricted.ContainerSecurityContext(),
	}
	sa := s.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: SchedulerPodName(fw.Name), Namespace: fw.Namespace,
			Labels: map[string]string{kmv1.LabelFramework: fw.Name, kmv1.LabelComponent: "scheduler"},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:      corev1.RestartPolicyNever,
			ServiceAccountName: sa,
			SecurityContext:    restricted.PodSecurityContext(),
			Containers:         []corev1.Container{c},
		},
	}
}
