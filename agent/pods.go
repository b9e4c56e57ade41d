package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
	"github.com/kubemesos/kubemesos/internal/restricted"
)

// executorOf returns the executor of a task on this agent.
func executorOf(t *kmv1.Task) ExecutorKey { return t.Executor() }

// podNameFor names the pod of a task under agentID: one per command task,
// one per custom executor and agentID.
func podNameFor(t *kmv1.Task, agentID string) string {
	if t.Spec.Executor == nil {
		return commandPodName(t)
	}
	return executorPodName(executorOf(t), agentID)
}

// commandPodName names the pod of a command task.
func commandPodName(t *kmv1.Task) string {
	return boundedName("task-"+t.Name, t.Namespace, t.Name, string(t.UID))
}

// executorPodName names the pod of a custom executor under agentID.
func executorPodName(k ExecutorKey, agentID string) string {
	return boundedName(k.Framework+"-"+mesoswire.DNSLabelPrefix(k.ExecutorID, 63), k.String(), agentID)
}

// executorIDOfPod is the executor ID a custom executor's pod runs ("" for
// a command task's pod): its annotation, since the label may only be a
// digest of it.
func executorIDOfPod(p *corev1.Pod) string {
	if _, ok := p.Labels[kmv1.LabelExecutor]; !ok {
		return ""
	}
	return p.Annotations[AnnotationExecutorID]
}

// ExecutorPod builds the pod named name that runs task t on the agent with
// options o under agentID: a command task's own pod, owned by the Task, or a
// custom executor's pod. It is exactly what the chart's admission policy
// kubemesos-agent-node lets an agent create: on its node, restricted, with
// no API token and only the executor token volume.
//
// frameworkID is the framework's Mesos ID (its Framework's UID). Besides
// the kubemesos variables, the pod gets the environment a Mesos executor
// reads (mesosEnv) and a sandbox directory.
func ExecutorPod(t *kmv1.Task, name, agentID, frameworkID string, o Options, scheme *runtime.Scheme) (*corev1.Pod, error) {
	k := executorOf(t)
	env := []corev1.EnvVar{
		{Name: executorapi.EnvAgentEndpoint, Value: o.Endpoint},
		{Name: executorapi.EnvNamespace, Value: k.Namespace},
		{Name: executorapi.EnvFramework, Value: k.Framework},
		{Name: executorapi.EnvExecutorID, Value: k.ExecutorID},
		{Name: executorapi.EnvAgentID, Value: agentID},
		{Name: executorapi.EnvTokenFile, Value: path.Join(executorapi.TokenDir, executorapi.TokenFile)},
	}
	env = append(env, mesosEnv(t, frameworkID, o)...)
	labels := map[string]string{
		kmv1.LabelFramework: k.Framework, kmv1.LabelAgent: o.NodeName,
		kmv1.LabelComponent: "executor", kmv1.LabelExecutor: boundedLabel(k.ExecutorID),
	}
	var c corev1.Container
	requests := t.Spec.Resources.Core().DeepCopy()
	if cmd := t.Spec.Command; cmd != nil {
		// A label value holds 63 characters, a task name 253: the pod
		// maps back to its task through its owner reference.
		labels[kmv1.LabelTask] = boundedLabel(t.Name)
		delete(labels, kmv1.LabelExecutor)
		env = append(env, corev1.EnvVar{Name: executorapi.EnvTaskID, Value: t.Name}, corev1.EnvVar{Name: executorapi.EnvTaskData, Value: t.Spec.Data})
		c = corev1.Container{Name: "task", Image: cmd.Image, Command: cmd.Command, Args: cmd.Args, Env: append(env, kmv1.EnvVars(cmd.Env)...)}
	} else {
		ex := t.Spec.Executor
		// The pod requests the executor's own resources plus its first
		// task's. Later tasks of the executor are accounted by the master
		// (the Agent's offers), not by the kubelet: the pod's requests are
		// fixed once it exists.
		for n, q := range ex.Resources {
			cur := requests[n]
			cur.Add(q)
			requests[n] = cur
		}
		c = corev1.Container{Name: executorContainer, Image: ex.Image, Command: ex.Command, Args: ex.Args, Env: append(env, kmv1.EnvVars(ex.Env)...)}
	}
	// Ports are the master's to account: the node has no such resource,
	// and the pod has a network namespace of its own.
	delete(requests, kmv1.ResourcePorts)
	c.Resources = corev1.ResourceRequirements{Requests: requests}
	c.SecurityContext = restricted.ContainerSecurityContext()
	c.VolumeMounts = []corev1.VolumeMount{
		{Name: executorTokenVolume, MountPath: executorapi.TokenDir, ReadOnly: true},
		{Name: SandboxVolume, MountPath: SandboxDir},
	}
	if mesoswire.IsMesosTask(t) {
		// A framework of the Mesos API gets what Mesos gives: its
		// executor and command tasks start in their sandbox.
		c.WorkingDir = SandboxDir
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: t.Namespace, Name: name, Labels: labels,
			Annotations: map[string]string{AnnotationAgentID: agentID, AnnotationExecutorID: k.ExecutorID}},
		Spec: corev1.PodSpec{
			NodeName:      o.NodeName,
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{c},
			// The namespace's default ServiceAccount, named so that its
			// token can be bound to the pod; the pod gets no API token,
			// only the executor token, good for the agent alone.
			ServiceAccountName:           executorServiceAccount,
			AutomountServiceAccountToken: ptr.To(false),
			Volumes: []corev1.Volume{executorTokenProjection(t),
				{Name: SandboxVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			TerminationGracePeriodSeconds: t.Spec.KillGracePeriodSeconds,
			SecurityContext:               restricted.PodSecurityContext(),
			// The taints under which the operator lets this node be
			// offered; a NoExecute taint that they do not tolerate evicts
			// the pod, as it would any other.
			Tolerations: o.OfferTolerations,
		},
	}
	if ex := t.Spec.Executor; ex != nil {
		pod.Annotations[AnnotationExecutorSpec] = executorSpecHash(ex)
	}
	if t.Spec.Command != nil {
		// A command pod belongs to its task: deleting the task removes it.
		if err := controllerutil.SetOwnerReference(t, pod, scheme); err != nil {
			return nil, fmt.Errorf("owning pod %s by its task: %w", name, err)
		}
	}
	return pod, nil
}

// The sandbox of an executor or command task: a directory of the pod's own
// (an emptyDir, gone with the pod), where Mesos mounts its sandbox in a
// container. MESOS_SANDBOX and MESOS_DIRECTORY name it.
const (
	SandboxVolume = "kubemesos-sandbox"
	SandboxDir    = "/mnt/mesos/sandbox"
)

// What the agent tells a Mesos executor of how to reconnect: it
// checkpoints, so an executor retries subscribing for as long as its
// tasks wait for it (Options.ExecutorRegistrationTimeout), at most
// mesosSubscriptionBackoffMax apart (Mesos's default).
const mesosSubscriptionBackoffMax = 2 * time.Second

// defaultKillGracePeriod is the pod's termination grace period when the
// task sets none (Kubernetes's default).
const defaultKillGracePeriod = 30 * time.Second

// mesosEnv is the environment Apache Mesos gives an executor, so that a
// Mesos executor finds its framework, its ID and its agent, and how long
// to retry. MESOS_EXECUTOR_AUTHENTICATION_TOKEN is not among them: no
// token value goes into a pod spec. The executor's token is the file that
// KUBEMESOS_EXECUTOR_TOKEN_FILE names, which a Mesos framework's executor
// command reads into that variable as it starts (see the master's
// scheduler API).
func mesosEnv(t *kmv1.Task, frameworkID string, o Options) []corev1.EnvVar {
	grace := defaultKillGracePeriod
	if s := t.Spec.KillGracePeriodSeconds; s != nil {
		grace = time.Duration(*s) * time.Second
	}
	return []corev1.EnvVar{
		{Name: "MESOS_FRAMEWORK_ID", Value: frameworkID},
		{Name: "MESOS_EXECUTOR_ID", Value: executorOf(t).ExecutorID},
		{Name: "MESOS_AGENT_ENDPOINT", Value: o.Endpoint},
		// libmesos's executor library finds its agent by the process ID.
		{Name: "MESOS_SLAVE_PID", Value: executorapi.MesosAgentProcess + "@" + o.Endpoint},
		{Name: "MESOS_DIRECTORY", Value: SandboxDir},
		{Name: "MESOS_SANDBOX", Value: SandboxDir},
		{Name: "MESOS_CHECKPOINT", Value: "1"},
		{Name: "MESOS_RECOVERY_TIMEOUT", Value: mesoswire.Duration(o.ExecutorRegistrationTimeout)},
		{Name: "MESOS_SUBSCRIPTION_BACKOFF_MAX", Value: mesoswire.Duration(mesosSubscriptionBackoffMax)},
		{Name: "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", Value: mesoswire.Duration(grace)},
	}
}

// AnnotationExecutorSpec on a custom executor's pod is a digest of the
// image, command and args it was started with (executorSpecHash), which a
// later task of the executor must match whatever admission webhooks did to
// the pod's containers.
const AnnotationExecutorSpec = "kubemesos.io/executor-spec"

// executorSpecHash is the digest of what runs an executor.
func executorSpecHash(ex *kmv1.ExecutorInfo) string {
	parts := append([]string{ex.Image, fmt.Sprint(len(ex.Command))}, ex.Command...)
	return shortHash(append(parts, ex.Args...)...)
}

// executorContainer names the container of a custom executor's pod.
const executorContainer = "executor"

// The executor's credential in its pod (see executorapi.TokenAudience).
const (
	executorTokenVolume    = "kubemesos-executor-token"
	executorServiceAccount = "default"
)

// executorTokenProjection is the volume that holds the token of t's
// executor: a service account token for executorapi.TokenAudience, bound
// to the pod, which the kubelet requests and renews. The token's value is
// never in the pod spec. The custom executor of a task launched through
// the master's Mesos API gets executorapi.MesosTokenExpirationSeconds: it
// reads the token once, as Mesos executors do.
func executorTokenProjection(t *kmv1.Task) corev1.Volume {
	expiration := int64(executorapi.TokenExpirationSeconds)
	if mesoswire.IsMesosTask(t) && t.Spec.Executor != nil {
		expiration = executorapi.MesosTokenExpirationSeconds
	}
	return corev1.Volume{Name: executorTokenVolume, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
			Audience: executorapi.TokenAudience, ExpirationSeconds: ptr.To(expiration), Path: executorapi.TokenFile,
		}}},
	}}}
}

// boundedLabel makes v a label value: v itself when it is one, else a
// readable prefix of it and a digest of all of it (an executor ID may be
// 255 characters of almost anything). What the label names is read back
// from elsewhere (the pod's executor ID annotation, its owner reference).
func boundedLabel(v string) string {
	if len(validation.IsValidLabelValue(v)) == 0 {
		return v
	}
	return boundedName(mesoswire.DNSLabelPrefix(v, 63), v)
}

// shortHash is a stable 8-hex-digit digest, for names.
func shortHash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:8]
}

// boundedName joins a prefix and a hash into a pod name within 63
// characters, which also keeps it a valid label value.
func boundedName(prefix string, parts ...string) string {
	h := shortHash(parts...)
	if len(prefix) > 63-9 {
		prefix = prefix[:63-9]
	}
	for len(prefix) > 0 && (prefix[len(prefix)-1] == '-' || prefix[len(prefix)-1] == '.') {
		prefix = prefix[:len(prefix)-1]
	}
	if prefix == "" {
		return h
	}
	return prefix + "-" + h
}
