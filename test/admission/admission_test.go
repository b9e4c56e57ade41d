// Package admission tests the chart's admission rules and RBAC against a
// real API server: it helm-installs the chart into envtest's kube-apiserver
// and lets the API server itself refuse what a tenant or a node's agent may
// not do. Users are impersonated, extra (the node name of a bound token)
// included.
package admission

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubemesos/kubemesos/agent"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/messages"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

const (
	systemNS  = "kubemesos-system"
	agentUser = "system:serviceaccount:" + systemNS + ":kubemesos-agent"
	nodeExtra = "authentication.kubernetes.io/node-name"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	e, err := testenv.StartControlPlane()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	env = e
	code := 1
	if err := installChart(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	if err := e.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping envtest:", err)
	}
	os.Exit(code)
}

// installChart helm-installs the chart as an operator would. Nothing runs
// its pods (envtest has no nodes); what matters here is what the API server
// holds: CRDs, RBAC and admission policies.
func installChart() error {
	dir, err := os.MkdirTemp("", "kubemesos-admission-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		return err
	}
	cmd := exec.Command(testenv.Helm(), "install", "km", filepath.Join(testenv.RepoRoot(), "charts", "kubemesos"),
		"--namespace", systemNS, "--create-namespace", "--kubeconfig", kubeconfig)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("helm install: %v\n%s", err, out)
	}
	// The CRDs must be served before any test creates a Framework.
	return wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		return env.Client.List(ctx, &kmv1.FrameworkList{}) == nil && env.Client.List(ctx, &kmv1.TaskList{}) == nil, nil
	})
}

// as returns a client that impersonates user with groups and extra.
func as(t *testing.T, user string, groups []string, extra map[string][]string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: append(groups, "system:authenticated"), Extra: extra}
	c, err := client.New(cfg, client.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// agentOn is the agent's ServiceAccount as its bound token on node
// authenticates it.
func agentOn(t *testing.T, node string) client.Client {
	var extra map[string][]string
	if node != "" {
		extra = map[string][]string{nodeExtra: {node}}
	}
	return as(t, agentUser, []string{"system:serviceaccounts", "system:serviceaccounts:" + systemNS}, extra)
}

func namespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "team-"}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	// No kube-controller-manager here: create what it would.
	for _, name := range []string{"default", "admin"} {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: name}}
		if err := env.Client.Create(context.Background(), sa); err != nil {
			t.Fatal(err)
		}
	}
	return ns.Name
}

// bind gives user the ClusterRole role in namespace ns.
func bind(t *testing.T, ns, user, role string) {
	t.Helper()
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "test-"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}}
	if err := env.Client.Create(context.Background(), rb); err != nil {
		t.Fatal(err)
	}
}

// schedulerTenant makes a namespace where the user alice holds the
// chart's kubemesos-scheduler ClusterRole (she may create Frameworks, not
// pods), and returns it with a client that acts as alice.
func schedulerTenant(t *testing.T) (string, client.Client) {
	t.Helper()
	ns := namespace(t)
	bind(t, ns, "alice", "kubemesos-scheduler")
	return ns, as(t, "alice", nil, nil)
}

// refused checks that err is the API server's refusal and says want.
func refused(t *testing.T, what string, err error, want string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: allowed, want refused", what)
	case !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err):
		t.Errorf("%s: want 403 or 422, got %v", what, err)
	case !strings.Contains(err.Error(), want):
		t.Errorf("%s: the refusal does not say %q: %v", what, want, err)
	}
}

func allowed(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: refused: %v", what, err)
	}
}

// eventuallyRefused waits for the admission policies to take effect: the
// API server loads them from its own informer shortly after the install.
// Only a policy's refusal ends the wait: RBAC's, while the chart's roles
// are still loading, would let a test start before its policies bind.
func eventuallyRefused(t *testing.T, try func() error) {
	t.Helper()
	_ = wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		err := try()
		return err != nil && strings.Contains(err.Error(), "ValidatingAdmissionPolicy"), nil
	})
}

func TestFrameworkSchedulerNeedsTheRightToCreatePods(t *testing.T) {
	ctx := context.Background()
	ns, alice := schedulerTenant(t) // may create Frameworks, not pods
	withScheduler := func(name string) *kmv1.Framework {
		fw := b.MakeFramework(name, ns).Obj()
		fw.Spec.Scheduler = &kmv1.SchedulerSpec{Image: "kubemesos/kubemesos:test"}
		return fw
	}
	eventuallyRefused(t, func() error {
		fw := withScheduler("probe")
		err := alice.Create(ctx, fw)
		if err == nil {
			_ = env.Client.Delete(ctx, fw)
		}
		return err
	})
	const msg = "only a user who may create pods in namespace " // the policy's message
	refused(t, "a Framework with spec.scheduler by a user who may not create pods", alice.Create(ctx, withScheduler("mine")), msg)

	plain := b.MakeFramework("plain", ns).Obj()
	allowed(t, "a Framework without spec.scheduler", alice.Create(ctx, plain))
	patch := client.MergeFrom(plain.DeepCopy())
	plain.Spec.Scheduler = &kmv1.SchedulerSpec{Image: "kubemesos/kubemesos:test"}
	refused(t, "adding spec.scheduler by a user who may not create pods", alice.Patch(ctx, plain, patch), msg)
	plain.Spec.Scheduler = nil
	plain.Spec.Parameters = map[string]string{"x": "1"}
	allowed(t, "other changes", alice.Patch(ctx, plain, patch))

	// The namespace's default ServiceAccount (what the chart binds the
	// scheduler role to) cannot start a pod through a Framework either.
	sa := as(t, "system:serviceaccount:"+ns+":default", []string{"system:serviceaccounts", "system:serviceaccounts:" + ns}, nil)
	bind(t, ns, "system:serviceaccount:"+ns+":default", "kubemesos-scheduler")
	refused(t, "a Framework with spec.scheduler by a scheduler's ServiceAccount", sa.Create(ctx, withScheduler("bysa")), msg)

	// No kube-controller-manager aggregates "edit" here: a role of its own.
	podCreator := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{GenerateName: "pod-creator-"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create"}}}}
	if err := env.Client.Create(ctx, podCreator); err != nil {
		t.Fatal(err)
	}
	bind(t, ns, "alice", podCreator.Name) // may create pods: may run the scheduler
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		return alice.Create(ctx, withScheduler("mine")) == nil, nil
	})
	allowed(t, "a Framework with spec.scheduler by a user who may create pods", err)
}

func TestAgentIsHeldToItsNode(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	node1, node2, anonymous := agentOn(t, "node-1"), agentOn(t, "node-2"), agentOn(t, "")
	lease := func(name string) *coordinationv1.Lease {
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: systemNS, Name: name}}
	}
	eventuallyRefused(t, func() error { return node1.Create(ctx, lease("kubemesos-agent-node-2")) })

	t.Run("Leases", func(t *testing.T) {
		refused(t, "a token that names no node", anonymous.Create(ctx, lease("kubemesos-agent-node-1")), "name no node")
		allowed(t, "its own heartbeat Lease", node1.Create(ctx, lease("kubemesos-agent-node-1")))
		refused(t, "another agent's Lease", node1.Create(ctx, lease("kubemesos-agent-node-2")), "only the Lease kubemesos-agent-node-1")
		refused(t, "the master's Lease", node1.Create(ctx, lease(kmv1.MasterLeaseName)), "only the Lease kubemesos-agent-node-1")
		other := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "kube-scheduler"}}
		refused(t, "kube-scheduler's Lease", node1.Create(ctx, other), "forbidden")
		mine := lease("kubemesos-agent-node-1")
		allowed(t, "reading its Lease", node1.Get(ctx, client.ObjectKeyFromObject(mine), mine))
		mine.Spec.HolderIdentity = ptr.To("node-1")
		allowed(t, "renewing its Lease", node1.Update(ctx, mine))
		refused(t, "renewing it from another node", node2.Update(ctx, mine), "only the Lease kubemesos-agent-node-2")
	})

	t.Run("Pods", func(t *testing.T) {
		// No kube-controller-manager here: kube-system's default
		// ServiceAccount, without which the API server refuses the pod
		// before the policy sees it.
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "default"}}
		if err := env.Client.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		// A RuntimeClass that exists, which the API server checks first.
		rc := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "unsandboxed"}, Handler: "runc"}
		if err := env.Client.Create(ctx, rc); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		allowed(t, "an executor pod on its node", node1.Create(ctx, executorPod(ns, "ex-1", "node-1", nil)))
		refused(t, "an executor pod on another node", node1.Create(ctx, executorPod(ns, "ex-2", "node-2", nil)), "only on its own node, not on node-2")
		refused(t, "an unassigned pod", node1.Create(ctx, executorPod(ns, "ex-3", "", nil)), "only on its own node")
		for what, change := range map[string]func(*corev1.Pod){
			"a hostPath volume": func(p *corev1.Pod) {
				p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
			},
			"a hostPath volume named as the sandbox": func(p *corev1.Pod) {
				for i := range p.Spec.Volumes {
					if p.Spec.Volumes[i].Name == agent.SandboxVolume {
						p.Spec.Volumes[i].VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}
					}
				}
			},
			"a writable mount of the token": func(p *corev1.Pod) {
				for i := range p.Spec.Containers[0].VolumeMounts {
					if p.Spec.Containers[0].VolumeMounts[i].Name != agent.SandboxVolume {
						p.Spec.Containers[0].VolumeMounts[i].ReadOnly = false
					}
				}
			},
			"a privileged container": func(p *corev1.Pod) {
				p.Spec.Containers[0].SecurityContext.Privileged = ptr.To(true)
				p.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
			},
			"the host's network":     func(p *corev1.Pod) { p.Spec.HostNetwork = true },
			"the host's PIDs":        func(p *corev1.Pod) { p.Spec.HostPID = true },
			"another ServiceAccount": func(p *corev1.Pod) { p.Spec.ServiceAccountName = "admin" },
			"an API token":           func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = ptr.To(true) },
			"a token for the API server": func(p *corev1.Pod) {
				p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "t", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}})
			},
			"a secret in the env": func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "S", ValueFrom: &corev1.EnvVarSource{
					SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}}}
			},
			"an added capability": func(p *corev1.Pod) {
				p.Spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"SYS_ADMIN"}
			},
			"a host port": func(p *corev1.Pod) {
				p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 80}}
			},
			"no executor labels":                        func(p *corev1.Pod) { delete(p.Labels, kmv1.LabelComponent) },
			"another label, which a Service may select": func(p *corev1.Pod) { p.Labels["app"] = "api" },
			"an annotation of its own": func(p *corev1.Pod) {
				p.Annotations["container.apparmor.security.beta.kubernetes.io/executor"] = "unconfined"
			},
			"a root container": func(p *corev1.Pod) {
				p.Spec.Containers[0].SecurityContext.RunAsUser = ptr.To[int64](0)
				p.Spec.Containers[0].SecurityContext.RunAsNonRoot = ptr.To(false)
			},
			"no seccomp": func(p *corev1.Pod) {
				p.Spec.Containers[0].SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
			},
			"another SELinux type": func(p *corev1.Pod) {
				p.Spec.Containers[0].SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{Type: "spc_t"}
			},
			"capabilities kept": func(p *corev1.Pod) { p.Spec.Containers[0].SecurityContext.Capabilities.Drop = nil },
			"a runtime class":   func(p *corev1.Pod) { p.Spec.RuntimeClassName = ptr.To("unsandboxed") },
			"kube-system":       func(p *corev1.Pod) { p.Namespace = "kube-system" },
			"another node's label": func(p *corev1.Pod) {
				p.Labels[kmv1.LabelAgent] = "node-2"
			},
		} {
			refused(t, "an executor pod with "+what, node1.Create(ctx, executorPod(ns, "bad", "node-1", change)), "only executor pods as kubemesos builds them")
		}
		theirs := executorPod(ns, "theirs", "node-2", nil)
		allowed(t, "node-2's agent creates its pod", node2.Create(ctx, theirs))
		refused(t, "deleting another node's pod", node1.Delete(ctx, theirs), "only on its own node")
		allowed(t, "deleting its own pod", node1.Delete(ctx, executorPod(ns, "ex-1", "node-1", nil)))
		other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "someone-elses"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:stable"}}}}
		allowed(t, "a tenant's unscheduled pod", env.Client.Create(ctx, other))
		refused(t, "deleting a pod on no node", node1.Delete(ctx, other), "only on its own node")
		onNode := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "someone-elses-on-node-1"},
			Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c", Image: "busybox:stable"}}}}
		allowed(t, "a tenant's pod on node-1", env.Client.Create(ctx, onNode))
		refused(t, "deleting a pod of its node that is no executor", node1.Delete(ctx, onNode), "may delete only executor pods")
	})

	t.Run("TaskStatus", func(t *testing.T) {
		placed := func(name, node string) *kmv1.Task {
			task := b.MakeTask(name, ns).Framework("fw").Offer("o1").Agent("agent-"+node).Command("busybox:stable", "true").Obj()
			if err := env.Client.Create(ctx, task); err != nil {
				t.Fatal(err)
			}
			task.Status.State, task.Status.AgentID, task.Status.NodeName = kmv1.TaskStaging, "agent-"+node, node
			if err := env.Client.Status().Update(ctx, task); err != nil {
				t.Fatal(err)
			}
			return task
		}
		mine, theirs := placed("mine", "node-1"), placed("theirs", "node-2")
		running := func(task *kmv1.Task) *kmv1.Task {
			task = task.DeepCopy()
			task.Status.State = kmv1.TaskRunning
			return task
		}
		allowed(t, "the status of a task on its node", node1.Status().Update(ctx, running(mine)))
		refused(t, "the status of a task on another node", node1.Status().Update(ctx, running(theirs)), "only of Tasks placed on its node")
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(mine), mine); err != nil {
			t.Fatal(err)
		}
		moved := mine.DeepCopy()
		moved.Status.NodeName = "node-2"
		refused(t, "moving its task to another node", node1.Status().Update(ctx, moved), "without changing their node or agentID")
		moved = mine.DeepCopy()
		moved.Status.AgentID = "agent-x"
		refused(t, "changing its task's agentID", node1.Status().Update(ctx, moved), "without changing their node or agentID")
		patch := client.MergeFrom(theirs.DeepCopy())
		stolen := theirs.DeepCopy()
		stolen.Status.NodeName = "node-1"
		refused(t, "taking another node's task by a patch", node1.Status().Patch(ctx, stolen, patch), "only of Tasks placed on its node")
	})

	t.Run("Agents", func(t *testing.T) {
		allowed(t, "its own Agent", node1.Create(ctx, b.MakeAgent("node-1").Obj()))
		refused(t, "another node's Agent", node1.Create(ctx, b.MakeAgent("node-2").Obj()), "only the Agent node-1")
		allowed(t, "node-2's agent creates its Agent", node2.Create(ctx, b.MakeAgent("node-2").Obj()))
		var a kmv1.Agent
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "node-2"}, &a); err != nil {
			t.Fatal(err)
		}
		a.Spec.Endpoint = "10.0.0.1:5051"
		refused(t, "rewriting another node's Agent", node1.Update(ctx, &a), "only the Agent node-1")
	})

	t.Run("Events", func(t *testing.T) {
		message := func(name, node, to string) *eventsv1.Event {
			return &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
				Labels: map[string]string{kmv1.LabelMessage: to, kmv1.LabelAgent: node, kmv1.LabelFramework: "fw"}},
				EventTime: metav1.NowMicro(), ReportingController: messages.ControllerAgent, ReportingInstance: "node-1",
				Action: "Message", Reason: "FrameworkMessage", Type: corev1.EventTypeNormal,
				Regarding: corev1.ObjectReference{Kind: "Framework", Namespace: ns, Name: "fw"}, Note: "hello"}
		}
		stored := func(e *eventsv1.Event) *eventsv1.Event {
			if err := env.Client.Create(ctx, e); err != nil {
				t.Fatal(err)
			}
			return e
		}
		// Messages from schedulers to executors: it delivers, then deletes,
		// only those for its node.
		refused(t, "deleting a message to another node", node1.Delete(ctx, stored(message("to-2", "node-2", kmv1.MessageToExecutor))),
			"only the message Events addressed to its node")
		allowed(t, "deleting a message to its node", node1.Delete(ctx, stored(message("to-1", "node-1", kmv1.MessageToExecutor))))
		// Messages from executors to schedulers: it creates only those from
		// its node, and deletes none (their scheduler does).
		mine := message("from-1", "node-1", kmv1.MessageToScheduler)
		allowed(t, "a message from an executor on its node", node1.Create(ctx, mine))
		refused(t, "a message from another node", node1.Create(ctx, message("from-2", "node-2", kmv1.MessageToScheduler)),
			"may create only messages to schedulers from the executors on its node")
		refused(t, "a message to an executor", node1.Create(ctx, message("to-x", "node-1", kmv1.MessageToExecutor)),
			"may create only messages to schedulers from the executors on its node")
		// Events only through events.k8s.io: the core API would let it name
		// another component or node as the source.
		forged := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "forged",
			Labels: map[string]string{kmv1.LabelMessage: kmv1.MessageToScheduler, kmv1.LabelAgent: "node-2"}},
			InvolvedObject: corev1.ObjectReference{Kind: "Framework", Namespace: ns, Name: "fw"}, Reason: "FrameworkMessage", Message: "hi",
			ReportingController: messages.ControllerAgent, ReportingInstance: "node-1"}
		refused(t, "a message through the core API", node1.Create(ctx, forged), `cannot create resource "events" in API group ""`)
		refused(t, "deleting a message to a scheduler", node1.Delete(ctx, mine), "only the message Events addressed to its node")
		changed := mine.DeepCopy()
		changed.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NowMicro()}
		refused(t, "changing a message", node1.Patch(ctx, changed, client.MergeFrom(mine)), "may not change a framework message")
		// Its own reports: it reports as itself on its node, and changes
		// none but its own.
		report := func(name, instance string) *eventsv1.Event {
			e := message(name, "node-1", "")
			delete(e.Labels, kmv1.LabelMessage)
			e.Reason, e.ReportingController, e.ReportingInstance = "Killing", agent.RecorderName, instance
			return e
		}
		own := report("report", "node-1")
		allowed(t, "an Event of its own", node1.Create(ctx, own))
		counted := own.DeepCopy()
		counted.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NowMicro()}
		allowed(t, "counting its own Event again", node1.Patch(ctx, counted, client.MergeFrom(own)))
		refused(t, "an Event reported as another node", node1.Create(ctx, report("as-2", "node-2")),
			"only Events it reports itself (reportingController kubemesos-agent or kubemesos.io/agent) as its node (reportingInstance node-1)")
		refused(t, "an Event reported as the host", node1.Create(ctx, report("as-host", "kubemesos-agent-host")), "only Events it reports itself")
		asKubelet := report("as-kubelet", "node-1")
		asKubelet.ReportingController = "kubelet"
		refused(t, "an Event reported as the kubelet", node1.Create(ctx, asKubelet), "only Events it reports itself")
		theirs := stored(report("theirs", "node-2"))
		recounted := theirs.DeepCopy()
		recounted.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NowMicro()}
		refused(t, "counting another node's Event", node1.Patch(ctx, recounted, client.MergeFrom(theirs)), "only Events it reports itself")
		// The kubelet of its node reports as the node too.
		kubelets := report("kubelets", "node-1")
		kubelets.ReportingController = "kubelet"
		kubelets = stored(kubelets)
		recounted = kubelets.DeepCopy()
		recounted.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NowMicro()}
		refused(t, "counting its kubelet's Event", node1.Patch(ctx, recounted, client.MergeFrom(kubelets)), "only Events it reports itself")
		var core corev1.Event
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(kubelets), &core); err != nil {
			t.Fatal(err)
		}
		taken := core.DeepCopy()
		taken.Message = "rewritten"
		refused(t, "rewriting its kubelet's Event through the core API", node1.Patch(ctx, taken, client.MergeFrom(&core)),
			`cannot patch resource "events" in API group ""`)
		// Should an admin grant it the core API's Events (whose source the
		// events.k8s.io API refuses to set), the policy still holds it to
		// its own source.
		coreEvents := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "core-events"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}}}}
		grant := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "core-events"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "core-events"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: agentUser}}}
		for _, o := range []client.Object{coreEvents, grant} {
			if err := env.Client.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		coreReport := func(name string, source corev1.EventSource) *corev1.Event {
			return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				InvolvedObject: corev1.ObjectReference{Kind: "Framework", Namespace: ns, Name: "fw"}, Reason: "Killing", Message: "hi",
				Type: corev1.EventTypeNormal, ReportingController: agent.RecorderName, ReportingInstance: "node-1", Source: source}
		}
		if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
			return node1.Create(ctx, coreReport("core-own", corev1.EventSource{Component: agent.RecorderName, Host: "node-1"})) == nil, nil
		}); err != nil {
			t.Fatalf("a core Event of its own, once granted the core API: %v", err)
		}
		refused(t, "a core Event whose source is another node", node1.Create(ctx, coreReport("core-2", corev1.EventSource{Component: agent.RecorderName, Host: "node-2"})),
			"with no other source")
		refused(t, "a core Event whose source is the kubelet", node1.Create(ctx, coreReport("core-kubelet", corev1.EventSource{Component: "kubelet", Host: "node-1"})),
			"with no other source")
		refused(t, "rewriting its kubelet's Event once granted the core API", node1.Patch(ctx, taken, client.MergeFrom(&core)), "only Events it reports itself")
		// A node name longer than reportingInstance's bound reports as its
		// first 128 characters, as the agent cuts it.
		long := strings.Repeat("n", 140)
		longAgent := agentOn(t, long)
		allowed(t, "an Event of a node with a long name", longAgent.Create(ctx, report("long", messages.ReportingInstance(long))))
	})
}

// TestOnlyTheAgentLabelsExecutorPods: a pod labelled kubemesos.io/agent is
// left out of its node's used resources, so no one else may label one so.
func TestOnlyTheAgentLabelsExecutorPods(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	bind(t, ns, "bob", "kubemesos-agent") // may create pods, yet is not the agent
	bob := as(t, "bob", nil, nil)
	eventuallyRefused(t, func() error {
		p := executorPod(ns, "probe", "node-1", nil)
		err := bob.Create(ctx, p)
		if err == nil {
			_ = env.Client.Delete(ctx, p)
		}
		return err
	})
	const msg = "only the kubemesos agent may label a pod kubemesos.io/agent"
	refused(t, "a tenant's pod labelled as an executor", bob.Create(ctx, executorPod(ns, "hidden", "node-1", nil)), msg)
	refused(t, "even an admin's", env.Client.Create(ctx, executorPod(ns, "hidden", "node-1", nil)), msg)
	plain := executorPod(ns, "plain", "node-1", func(p *corev1.Pod) { delete(p.Labels, kmv1.LabelAgent) })
	allowed(t, "a pod without the label", bob.Create(ctx, plain))
	patch := client.MergeFrom(plain.DeepCopy())
	plain.Labels[kmv1.LabelAgent] = "node-1"
	refused(t, "labelling a running pod afterwards", env.Client.Patch(ctx, plain, patch), msg)
	refused(t, "labelling it through its status", env.Client.Status().Patch(ctx, plain, patch), msg)
	ex := executorPod(ns, "ex", "node-1", nil)
	allowed(t, "the agent's own executor pod", agentOn(t, "node-1").Create(ctx, ex))
	patch = client.MergeFrom(ex.DeepCopy())
	delete(ex.Labels, kmv1.LabelAgent)
	refused(t, "taking the label off an executor pod", env.Client.Patch(ctx, ex, patch), "or take the label off")
	refused(t, "taking it off through its status", env.Client.Status().Patch(ctx, ex, patch), "or take the label off")
}

// TestASchedulerOnlyDeclinesOffers: a scheduler may set an Offer's
// refuse-seconds annotation and delete it (decline), nothing else of it; a
// finalizer would hold a declined Offer that the master counted as
// promised on its agent.
func TestASchedulerOnlyDeclinesOffers(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	bind(t, ns, "carol", "kubemesos-scheduler")
	carol := as(t, "carol", nil, nil)
	offer := func(name string) *kmv1.Offer {
		o := b.MakeOffer(name, ns).Framework("fw", "fw-uid").Agent("agent-1", "node-1").Resources("cpu", "1").Obj()
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	o := offer("o1")
	change := func(f func(*kmv1.Offer)) error {
		var cur kmv1.Offer
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(o), &cur); err != nil {
			return err
		}
		patch := client.MergeFrom(cur.DeepCopy())
		f(&cur)
		return carol.Patch(ctx, &cur, patch)
	}
	hold := func(x *kmv1.Offer) { x.Finalizers = append(x.Finalizers, "example.com/hold") }
	eventuallyRefused(t, func() error {
		err := change(hold)
		if err == nil {
			_ = change(func(x *kmv1.Offer) { x.Finalizers = nil })
		}
		return err
	})
	const msg = "a scheduler may set only the kubemesos.io/refuse-seconds annotation"
	refused(t, "a finalizer on an Offer", change(hold), msg)
	refused(t, "another annotation", change(func(x *kmv1.Offer) { x.Annotations = map[string]string{"example.com/x": "1"} }), msg)
	refused(t, "a label", change(func(x *kmv1.Offer) { x.Labels = map[string]string{"example.com/x": "1"} }), msg)
	refused(t, "an owner", change(func(x *kmv1.Offer) {
		x.OwnerReferences = append(x.OwnerReferences, kmv1.FrameworkOwner("other", "0c0ad7a1-0000-4000-8000-000000000001"))
	}), msg)
	allowed(t, "refuse-seconds", change(func(x *kmv1.Offer) {
		x.Annotations = map[string]string{kmv1.AnnotationRefuseSeconds: "30"}
	}))
	allowed(t, "declining", carol.Delete(ctx, o))
}

// executorPod is an executor pod as the agent builds it (agent.ExecutorPod)
// for a custom executor on node, changed by change.
func executorPod(ns, name, node string, change func(*corev1.Pod)) *corev1.Pod {
	task := b.MakeTask(name, ns).Framework("fw").Offer("o1").Executor("ex", "busybox:stable").Obj()
	p, err := agent.ExecutorPod(task, name, "agent-"+node, "fw-uid", agent.Options{NodeName: node, Endpoint: "10.0.0.1:5051"}, env.Client.Scheme())
	if err != nil {
		panic(err)
	}
	if change != nil {
		change(p)
	}
	return p
}
