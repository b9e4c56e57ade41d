package kubectlmesos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/kubectlmesos"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// The control plane starts on the first test that needs it, so that the
// unit tests of this package run without one.
var (
	envOnce sync.Once
	env     *testenv.Env
	envErr  error
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	code := m.Run()
	if env != nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}
	os.Exit(code)
}

func startEnv(t *testing.T) *testenv.Env {
	t.Helper()
	envOnce.Do(func() { env, envErr = testenv.Start() })
	if envErr != nil {
		t.Fatal(envErr)
	}
	return env
}

// run runs `kubectl mesos args...` as cfg's user and returns its output.
func run(t *testing.T, cfg *rest.Config, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := kubectlmesos.NewCommand(kubectlmesos.Options{Out: &out, ErrOut: &out, RESTConfig: cfg})
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// seed creates the cluster of the test: three agents (n3 Unreachable),
// frameworks in namespaces team and data, and the tasks and offers of team.
func seed(t *testing.T, c client.Client) {
	t.Helper()
	ctx := context.Background()
	for _, ns := range []string{"team", "data"} {
		must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	agent := func(node string, phase kmv1.AgentPhase, alloc, offered kmv1.ResourceList) {
		a := builders.MakeAgent(node).Resources("cpu", "4", "memory", "8Gi").Obj()
		must(t, c.Create(ctx, a))
		a.Status = kmv1.AgentStatus{AgentID: node + "-id", Phase: phase, Allocated: alloc, Offered: offered}
		if phase == kmv1.AgentUnreachable {
			a.Status.UnreachableTime = ptr.To(metav1.Now())
		}
		must(t, c.Status().Update(ctx, a))
	}
	agent("n1", kmv1.AgentActive, builders.Resources("cpu", "3", "memory", "4Gi"), builders.Resources("cpu", "500m", "memory", "2Gi"))
	agent("n2", kmv1.AgentActive, builders.Resources("cpu", "4", "memory", "6Gi"), nil)
	agent("n3", kmv1.AgentUnreachable, nil, nil)
	framework := func(name, ns, role, share string, running int32, suppress bool) {
		fw := builders.MakeFramework(name, ns).Role(role).Suppress(suppress).Obj()
		must(t, c.Create(ctx, fw))
		fw.Status = kmv1.FrameworkStatus{FrameworkID: ns + "-" + name + "-id", Phase: kmv1.FrameworkActive, DominantShare: share,
			Tasks: kmv1.TaskCounts{Running: running}, Allocated: builders.Resources("cpu", "1", "memory", "1Gi")}
		must(t, c.Status().Update(ctx, fw))
	}
	framework("big", "team", "*", "0.6", 2, false)
	framework("web", "team", "*", "0.5", 3, false)
	framework("secret", "data", "*", "0.1", 1, false)
	framework("quiet", "team", "*", "0", 0, true)
	o := builders.MakeOffer("web-n1-abcde", "team").Framework("web", "team-web-id").Agent("n1-id", "n1").Resources("cpu", "500m", "memory", "2Gi").Obj()
	o.Labels = map[string]string{kmv1.LabelFramework: "web", kmv1.LabelAgent: "n1"}
	must(t, c.Create(ctx, o))
	// big's last task asks for more cpu than any agent has free.
	big := builders.MakeTask("big-7", "team").Framework("big").Offer("big-n1-gone").Resources("cpu", "2", "memory", "1Gi").Command("busybox:stable").Obj()
	must(t, c.Create(ctx, big))
	big.Status = kmv1.TaskStatus{State: kmv1.TaskError, Reason: kmv1.ReasonInvalidOffers, Source: kmv1.SourceMaster, Message: "offer big-n1-gone is unknown"}
	must(t, c.Status().Update(ctx, big))
	run := builders.MakeTask("web-1", "team").Framework("web").Offer("web-n2-x").Agent("n2-id").Resources("cpu", "1").Command("busybox:stable").Obj()
	must(t, c.Create(ctx, run))
	run.Status = kmv1.TaskStatus{State: kmv1.TaskStaging, Source: kmv1.SourceMaster, AgentID: "n2-id", NodeName: "n2", StagingTime: ptr.To(metav1.Now())}
	must(t, c.Status().Update(ctx, run))
}

// alice may read and kill in namespace team, and nothing else.
func alice(t *testing.T, e *testenv.Env) *rest.Config {
	t.Helper()
	ctx := context.Background()
	must(t, e.Client.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "mesos-user", Namespace: "team"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{kmv1.GroupVersion.Group}, Resources: []string{"frameworks", "tasks", "offers"}, Verbs: []string{"get", "list", "watch", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"pods", "pods/log", "events"}, Verbs: []string{"get", "list"}},
	}}))
	must(t, e.Client.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "alice", Namespace: "team"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "mesos-user"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"}}}))
	cfg := rest.CopyConfig(e.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "alice", Groups: []string{"system:authenticated"}}
	return cfg
}

// contains checks that out holds each of want, ignoring how text was
// wrapped.
func contains(t *testing.T, what, out string, want ...string) {
	t.Helper()
	flat := strings.Join(strings.Fields(out), " ")
	for _, w := range want {
		if !strings.Contains(out, w) && !strings.Contains(flat, strings.Join(strings.Fields(w), " ")) {
			t.Errorf("%s lacks %q:\n%s", what, w, out)
		}
	}
}

func TestCommandsAgainstAPIServer(t *testing.T) {
	e := startEnv(t)
	seed(t, e.Client)
	admin := e.Config

	out, err := run(t, admin, "status")
	must(t, err)
	contains(t, "status", out, "Active       2", "Unreachable  1", "data       secret", "team       quiet      *     Active*", "Note: role weights are unknown")

	out, err = run(t, admin, "why", "big", "-n", "team")
	must(t, err)
	contains(t, "why big", out, "Framework team/big (Active)", "[BehindInDRF]", "framework team/web: dominant share 0.500",
		"[NoAgentFits]", "last task big-7 used (cpu 2, memory 1Gi)", "closest: agent n1 needs cpu 1500m more", "[AgentsUnavailable]", "agent n3: Unreachable")

	out, err = run(t, admin, "why", "web", "-n", "team", "--role-weights", "*=2")
	must(t, err)
	contains(t, "why web", out, "[HoldsOffers]", "offer web-n1-abcde on agent n1")
	if strings.Contains(out, "role weights are unknown") {
		t.Errorf("--role-weights given, yet the weights are unknown:\n%s", out)
	}

	out, err = run(t, admin, "why", "quiet", "-n", "team", "-o", "json")
	must(t, err)
	var ex kubectlmesos.Explanation
	must(t, json.Unmarshal([]byte(out), &ex))
	if ex.Kind != kubectlmesos.KindExplanation || len(ex.Reasons) == 0 || ex.Reasons[0].Rule != kubectlmesos.RuleSuppressed {
		t.Errorf("why quiet -o json = %+v, want Suppressed first", ex)
	}

	out, err = run(t, admin, "why", "task/big-7", "-n", "team")
	must(t, err)
	contains(t, "why big-7", out, "[Refused]", "TASK_ERROR (REASON_INVALID_OFFERS, from SOURCE_MASTER)", "offer big-n1-gone is unknown")
	out, err = run(t, admin, "why", "web-1", "-n", "team")
	must(t, err)
	contains(t, "why web-1", out, "[WaitingForAgent]", "staged on agent n2")

	_, err = run(t, admin, "why", "nothing", "-n", "team")
	if err == nil || !strings.Contains(err.Error(), "kubectl get mfw,mtask -n team") {
		t.Errorf("why nothing = %v, want an error that says how to list them", err)
	}
	_, err = run(t, admin, "why", "framework/web-1", "-n", "team")
	if err == nil || !strings.Contains(err.Error(), "framework web-1 not found in namespace team; list them with kubectl get frameworks -n team") {
		t.Errorf("why framework/web-1 = %v", err)
	}

	out, err = run(t, admin, "offers", "-A")
	must(t, err)
	contains(t, "offers -A", out, "NAMESPACE  FRAMEWORK  AGENT  CPU   MEMORY  AGE", "team       web        n1     500m  2Gi")
	out, err = run(t, admin, "top", "-A", "-o", "yaml")
	must(t, err)
	contains(t, "top -A -o yaml", out, "kind: Top", "name: secret")

	out, err = run(t, admin, "__complete", "why", "-n", "team", "")
	must(t, err)
	contains(t, "completion", out, "big\n", "web-1\n", ":4\n")

	// kill sets spec.kill with the user's rights; a terminal task is refused.
	out, err = run(t, alice(t, e), "kill", "web-1", "-n", "team")
	must(t, err)
	contains(t, "kill", out, "kill asked (spec.kill set to true)")
	var killed kmv1.Task
	must(t, e.Client.Get(context.Background(), client.ObjectKey{Namespace: "team", Name: "web-1"}, &killed))
	if !killed.Spec.Kill {
		t.Error("kill left spec.kill false")
	}
	out, err = run(t, admin, "why", "web-1", "-n", "team")
	must(t, err)
	contains(t, "why web-1 after kill", out, "[KillPending]")
	_, err = run(t, admin, "kill", "big-7", "-n", "team")
	if err == nil || !strings.Contains(err.Error(), "already ended (TASK_ERROR)") {
		t.Errorf("kill of a terminal task = %v, want a refusal", err)
	}
	_, err = run(t, admin, "logs", "big-7", "-n", "team")
	if err == nil || !strings.Contains(err.Error(), "has no pod") {
		t.Errorf("logs of a task without a pod = %v", err)
	}
}

// TestUserSeesOnlyTheirNamespace runs the commands as a user with rights
// in namespace team alone: nothing of namespace data shows, and what is
// hidden is said.
func TestUserSeesOnlyTheirNamespace(t *testing.T) {
	e := startEnv(t)
	// TestCommandsAgainstAPIServer seeds the cluster and creates alice;
	// run alone, this test does both.
	var ns corev1.Namespace
	if e.Client.Get(context.Background(), client.ObjectKey{Name: "team"}, &ns) != nil {
		seed(t, e.Client)
		alice(t, e)
	}
	cfg := rest.CopyConfig(e.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "alice", Groups: []string{"system:authenticated"}}

	out, err := run(t, cfg, "status", "-n", "team")
	must(t, err)
	contains(t, "status as alice", out, "team       big", "frameworks of other namespaces are not visible", "agents are not visible")
	if strings.Contains(out, "secret") || strings.Contains(out, "data ") {
		t.Errorf("alice sees namespace data:\n%s", out)
	}
	out, err = run(t, cfg, "why", "big", "-n", "team", "-o", "json")
	must(t, err)
	if strings.Contains(out, "secret") {
		t.Errorf("alice's explanation shows namespace data:\n%s", out)
	}
	contains(t, "why big as alice", out, "frameworks of other namespaces are not visible", "agents are not visible")

	_, err = run(t, cfg, "why", "secret", "-n", "data")
	if err == nil || !strings.Contains(err.Error(), "you may not get frameworks in namespace data") {
		t.Errorf("why secret -n data as alice = %v, want forbidden with a hint", err)
	}
	_, err = run(t, cfg, "offers", "-A")
	if err == nil || !strings.Contains(err.Error(), "you may not list offers") {
		t.Errorf("offers -A as alice = %v, want forbidden with a hint", err)
	}
	_, err = run(t, cfg, "top", "-A")
	if err == nil || !strings.Contains(err.Error(), "you may not list frameworks") {
		t.Errorf("top -A as alice = %v, want forbidden with a hint", err)
	}
	out, err = run(t, cfg, "top", "-n", "team")
	must(t, err)
	contains(t, "top as alice", out, "big", "web")
	if strings.Contains(out, "secret") {
		t.Errorf("alice's top shows namespace data:\n%s", out)
	}
}
