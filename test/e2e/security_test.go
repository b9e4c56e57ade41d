//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/restricted"
	"github.com/kubemesos/kubemesos/internal/scheme"
)

// (g) Escape attempts: a Framework that asks for a privileged, hostPath
// scheduler is refused whoever asks, a user who may not create pods cannot
// start one through a Framework, and the demo still runs.
func TestSchedulerEscapeIsRefused(t *testing.T) {
	ns := newNamespace(t, "escape")
	escape := `apiVersion: kubemesos.io/v1alpha1
kind: Framework
metadata: {name: escape}
spec:
  scheduler:
    template:
      spec:
        hostNetwork: true
        nodeName: node-1
        containers:
        - name: root
          image: busybox:stable
          command: [chroot, /host, sh]
          securityContext: {privileged: true}
          volumeMounts: [{name: host, mountPath: /host}]
        volumes: [{name: host, hostPath: {path: /}}]
`
	f := filepath.Join(t.TempDir(), "escape.yaml")
	_ = os.WriteFile(f, []byte(escape), 0o600)
	out, err := kubectl("apply", "-n", ns, "-f", f)
	if err == nil || !strings.Contains(out, `unknown field "spec.scheduler.template"`) {
		t.Errorf("a privileged hostPath scheduler: err %v, output %q; want a refusal of spec.scheduler.template", err, out)
	}

	// mallory may create Frameworks (the scheduler role), not pods.
	rb := `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"mallory","namespace":"` + ns + `"},
"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"kubemesos-scheduler"},
"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"mallory"}]}`
	_ = os.WriteFile(f, []byte(rb), 0o600)
	if out, err := kubectl("apply", "-f", f); err != nil {
		t.Fatalf("binding mallory: %v\n%s", err, out)
	}
	sched := "apiVersion: kubemesos.io/v1alpha1\nkind: Framework\nmetadata: {name: sneaky}\nspec: {scheduler: {image: \"busybox:stable\"}}\n"
	_ = os.WriteFile(f, []byte(sched), 0o600)
	out, err = kubectl("apply", "--as=mallory", "-n", ns, "-f", f)
	if err == nil || !strings.Contains(out, "only a user who may create pods in namespace "+ns) {
		t.Errorf("spec.scheduler by a user who may not create pods: err %v, output %q; want the policy's refusal", err, out)
	}

	montecarlo(t, ns, nil)
	fw := waitDone(t, ns, 3*time.Minute)
	if fw.Status.Phase != kmv1.FrameworkCompleted {
		t.Errorf("the demo after the attempts ended %s: %s", fw.Status.Phase, fw.Status.Message)
	}
}

// (h) A node's agent credentials act on that node alone: a real token of
// the agent's ServiceAccount, bound to the agent's pod on one node (as the
// kubelet mounts it), is refused on every other node's pods, Lease and
// Agent, and accepted on its own.
func TestAgentTokenIsHeldToItsNode(t *testing.T) {
	ctx := context.Background()
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(systemNS), client.MatchingLabels{kmv1.LabelComponent: "agent"}); err != nil {
		t.Fatal(err)
	}
	var agentPod *corev1.Pod
	for i := range pods.Items {
		if p := &pods.Items[i]; p.Spec.NodeName == "node-1" && p.DeletionTimestamp == nil {
			agentPod = p
		}
	}
	if agentPod == nil {
		t.Fatal("no agent pod on node-1")
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: systemNS, Name: agentPod.Spec.ServiceAccountName}}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To[int64](600),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: agentPod.Name, UID: agentPod.UID},
	}}
	if err := c.SubResource("token").Create(ctx, sa, tr); err != nil {
		t.Fatalf("requesting the agent's bound token: %v", err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	anon := rest.AnonymousClientConfig(cfg)
	anon.BearerToken = tr.Status.Token
	node1, err := client.New(anon, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}

	var own kmv1.Agent
	if err := node1.Get(ctx, client.ObjectKey{Name: "node-1"}, &own); err != nil {
		t.Fatalf("the agent's token cannot read its own Agent: %v", err)
	}
	var lease coordinationv1.Lease
	if err := node1.Get(ctx, client.ObjectKey{Namespace: systemNS, Name: kmv1.AgentLeaseName("node-2")}, &lease); err != nil {
		t.Fatal(err)
	}
	// Patches without a resourceVersion: node-2's own agent renews its
	// Lease and writes its Agent meanwhile, and an update could lose to it
	// (409) before admission is asked.
	expectRefused(t, "renewing node-2's Lease", node1.Patch(ctx, &lease, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"holderIdentity":"node-1"}}`))),
		"only the Lease "+kmv1.AgentLeaseName("node-1"))
	var other kmv1.Agent
	if err := node1.Get(ctx, client.ObjectKey{Name: "node-2"}, &other); err != nil {
		t.Fatal(err)
	}
	expectRefused(t, "redirecting node-2's Agent", node1.Patch(ctx, &other, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"endpoint":"10.87.0.11:5051"}}`))),
		"only the Agent node-1")

	ns := newNamespace(t, "nodebound")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "stray", Labels: map[string]string{
			kmv1.LabelAgent: "node-2", kmv1.LabelComponent: "executor", kmv1.LabelFramework: "fw"}},
		Spec: corev1.PodSpec{NodeName: "node-2", RestartPolicy: corev1.RestartPolicyNever, AutomountServiceAccountToken: ptr.To(false),
			SecurityContext: restricted.PodSecurityContext(),
			Containers: []corev1.Container{{Name: "c", Image: "busybox:stable", Command: []string{"true"},
				SecurityContext: restricted.ContainerSecurityContext()}}},
	}
	expectRefused(t, "an executor pod on node-2", node1.Create(ctx, pod), "only on its own node, not on node-2")
	pod.Spec.NodeName, pod.Labels[kmv1.LabelAgent] = "node-1", "node-1"
	pod.Spec.HostNetwork = true
	expectRefused(t, "a host-network pod on its own node", node1.Create(ctx, pod), "only executor pods as kubemesos builds them")
}

func expectRefused(t *testing.T, what string, err error, want string) {
	t.Helper()
	if err == nil || !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("%s with the agent's token of node-1: %v; want a refusal saying %q", what, err, want)
	}
}
