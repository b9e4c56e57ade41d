package kubectlmesos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/console"
	"github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/internal/kubectlmesos"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// holdLease creates the Lease ns/name of kind and renews it every 150 ms
// until the test ends, as an agent's heartbeat or a connected scheduler.
func holdLease(t *testing.T, c client.Client, ns, name, kind string) {
	t.Helper()
	inprocess.HoldLease(t, c, types.NamespacedName{Namespace: ns, Name: name}, inprocess.LeaseHold{Kind: kind, Duration: time.Second})
}

// runWith runs `kubectl mesos args...` with o (its streams set here) and
// returns its output.
func runWith(o kubectlmesos.Options, args ...string) (string, error) {
	var out bytes.Buffer
	o.Out, o.ErrOut = &out, &out
	cmd := kubectlmesos.NewCommand(o)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// viewerToken creates service account viewer in ns, allowed to read the
// frameworks and tasks of ns (what the console checks), and returns a
// token of it.
func viewerToken(t *testing.T, c client.Client, cs kubernetes.Interface, ns string) string {
	t.Helper()
	ctx := context.Background()
	must(t, c.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "why-viewer"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{kmv1.GroupVersion.Group}, Resources: []string{"frameworks", "tasks"}, Verbs: []string{"get", "list", "watch"}},
	}}))
	must(t, c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "viewer"}}))
	must(t, c.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "viewer"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "why-viewer"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "viewer"}}}))
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "viewer", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	must(t, err)
	return tr.Status.Token
}

// tokenProxy stands for `kubectl mesos console`: it passes every request
// to the console at addr with token.
func tokenProxy(t *testing.T, addr, token string) *httptest.Server {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: addr}
	srv := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Header.Set("Authorization", "Bearer "+token)
	}})
	t.Cleanup(srv.Close)
	return srv
}

// filteredLine is the refused agent's line. The end is a time of day, or a
// full RFC 3339 time when it falls on the next day (a run near midnight).
var filteredLine = regexp.MustCompile(`agent f1 until (\d{4}-\d\d-\d\dT)?\d\d:\d\d:\d\dZ \(in (9m\d+s|10m)\)`)

// TestWhyReadsDeclineFilters runs a master with its console, one agent and
// a framework whose scheduler declines (deletes) its offer with
// refuseSeconds 600; `why` then names the refused agent and until when,
// read from the console: through a proxy that adds a viewer's token (as
// kubectl mesos console does), at the console itself with --token, and
// through a port-forward to the console Service's pod with --token. A
// client-certificate kubeconfig, or a console that answers 503, leaves a
// note and the rest of the explanation. The master acts on every object of
// its API server, so the test has one of its own.
func TestWhyReadsDeclineFilters(t *testing.T) {
	e, err := testenv.Start()
	must(t, err)
	t.Cleanup(func() { _ = e.Stop() })
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(e.Config)
	must(t, err)

	const ns = "picky-team"
	must(t, e.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	addr := inprocess.FreeAddr(t)
	inprocess.LaunchMaster(t, e.Config, inprocess.MasterConfig{ID: "why", Console: &console.Options{BindAddress: addr, AdvertiseAddress: addr}})
	must(t, e.Client.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "f1"}}))
	must(t, e.Client.Create(ctx, builders.MakeAgent("f1").Resources("cpu", "4", "memory", "8Gi").Obj()))
	holdLease(t, e.Client, inprocess.SystemNamespace, kmv1.AgentLeaseName("f1"), kmv1.LeaseKindAgent)
	fw := builders.MakeFramework("picky", ns).RefuseSeconds(600).Obj()
	must(t, e.Client.Create(ctx, fw))
	holdLease(t, e.Client, ns, kmv1.SchedulerLeaseName(fw.Name), kmv1.LeaseKindScheduler)

	var offer kmv1.Offer
	testenv.Eventually(t, "an offer of agent f1 to picky", time.Minute, func() bool {
		var l kmv1.OfferList
		if e.Client.List(ctx, &l, client.InNamespace(ns), client.MatchingLabels{kmv1.LabelFramework: fw.Name}) != nil || len(l.Items) == 0 {
			return false
		}
		offer = l.Items[0]
		return true
	})
	must(t, e.Client.Delete(ctx, &offer))

	token := viewerToken(t, e.Client, cs, ns)
	proxy := tokenProxy(t, addr, token)
	var out string
	testenv.Eventually(t, "why to name the decline filter", time.Minute, func() bool {
		out, err = run(t, e.Config, "why", "picky", "-n", ns, "--console-url", proxy.URL)
		return err == nil && strings.Contains(out, "[DeclineFiltered]")
	})
	contains(t, "why through a proxy", out, "1. [DeclineFiltered] it declined offers of every active agent (1) and refuses them all", "for this framework for 600s")
	if !filteredLine.MatchString(strings.Join(strings.Fields(out), " ")) {
		t.Errorf("why does not say until when agent f1 is refused:\n%s", out)
	}
	if strings.Contains(out, "decline filters are not shown") || strings.Contains(out, "[Eligible]") {
		t.Errorf("filters read, yet:\n%s", out)
	}

	// -o json, at the console itself with --token.
	out, err = run(t, e.Config, "why", "picky", "-n", ns, "-o", "json", "--console-url", "http://"+addr+"/", "--token", token)
	must(t, err)
	var ex kubectlmesos.Explanation
	must(t, json.Unmarshal([]byte(out), &ex))
	if len(ex.Reasons) == 0 || ex.Reasons[0].Rule != kubectlmesos.RuleDeclineFiltered || len(ex.Reasons[0].Details) == 0 || !filteredLine.MatchString(ex.Reasons[0].Details[0]) {
		t.Errorf("why -o json = %s, want DeclineFiltered first, agent f1 in its details", out)
	}
	// The console itself asks for a token.
	out, err = run(t, e.Config, "why", "picky", "-n", ns, "--console-url", "http://"+addr)
	must(t, err)
	contains(t, "why at the console without a token", out, "asks for a token (401 Unauthorized)")

	// A port-forward to the console Service's ready pod, with --token.
	const masterNS = "why-master"
	seedConsole(t, cs, masterNS)
	forwarded := make(chan string, 1)
	forward := func(ctx context.Context, _ *rest.Config, pod *corev1.Pod, port int32, _ io.Writer) (*kubectlmesos.PortForward, error) {
		forwarded <- pod.Name
		done := make(chan error, 1)
		go func() { <-ctx.Done(); done <- nil }()
		return &kubectlmesos.PortForward{Local: addr, Done: done}, nil
	}
	out, err = runWith(kubectlmesos.Options{RESTConfig: e.Config, ForwardPort: forward}, "why", "picky", "-n", ns, "--token", token, "--master-namespace", masterNS)
	must(t, err)
	contains(t, "why through a port-forward", out, "1. [DeclineFiltered]")
	select {
	case pod := <-forwarded:
		if pod != "master-0" {
			t.Errorf("forwarded to pod %s, want master-0", pod)
		}
	default:
		t.Error("why did not port-forward to the console")
	}

	// envtest's admin authenticates with a client certificate: no token.
	out, err = runWith(kubectlmesos.Options{RESTConfig: e.Config, ForwardPort: forward}, "why", "picky", "-n", ns, "--master-namespace", masterNS)
	must(t, err)
	contains(t, "why with a client certificate", out, "1. [",
		"decline filters are not shown (only the leading master holds them, and its console serves them): your kubeconfig authenticates with a client certificate",
		"run kubectl mesos console --service-account NAMESPACE/NAME", "and pass --console-url http://127.0.0.1:5080, or pass --token")
	if len(forwarded) != 0 {
		t.Error("why port-forwarded without a token to send")
	}

	// A console without a leader: a note, and the registry's reasons.
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"code":503,"message":"No leader elected."}`)
	}))
	defer down.Close()
	must(t, e.Client.Patch(ctx, fw, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"suppressOffers":true}}`))))
	out, err = run(t, e.Config, "why", "picky", "-n", ns, "--console-url", down.URL)
	if err != nil {
		t.Fatalf("why with a console that answers 503 failed: %v\n%s", err, out)
	}
	contains(t, "why with a console that answers 503", out, "1. [Suppressed]",
		"the master's console answered 503 Service Unavailable: No leader elected. Each declined (deleted) offer filters its agent for this framework for 600s")
}
