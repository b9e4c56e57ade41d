package kubectlmesos_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"

	"github.com/kubemesos/kubemesos/internal/kubectlmesos"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// syncBuffer is a bytes.Buffer that a running command writes while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// reviewingConsole stands for the master's console: it checks each
// request's bearer token with a TokenReview against the real API server,
// as the console does, and answers the overview to an accepted one.
func reviewingConsole(t *testing.T, cs kubernetes.Interface) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var users []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		tr, err := cs.AuthenticationV1().TokenReviews().Create(r.Context(), &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
		if !ok || err != nil || !tr.Status.Authenticated {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"code":401,"message":"The token is not valid."}`)
			return
		}
		mu.Lock()
		users = append(users, tr.Status.User.Username)
		mu.Unlock()
		_, _ = io.WriteString(w, `{"cycle":1}`)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), users...)
	}
}

// seedConsole creates the chart's console Service in ns with a ready
// master pod behind it (whose console port is 5080 by name), and the
// service account viewer in namespace team-console.
func seedConsole(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	ctx := context.Background()
	for _, n := range []string{ns, "team-console"} {
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{})
		must(t, err)
	}
	sel := map[string]string{"app.kubernetes.io/name": "kubemesos", "app.kubernetes.io/component": "master"}
	_, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: kubectlmesos.ConsoleService}, Spec: corev1.ServiceSpec{
		Selector: sel, Ports: []corev1.ServicePort{{Name: kubectlmesos.ConsolePortName, Port: 5080, TargetPort: intstr.FromString("console")}}}}, metav1.CreateOptions{})
	must(t, err)
	pod, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "master-0", Labels: sel}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "master", Image: "kubemesos:test", Ports: []corev1.ContainerPort{{Name: "console", ContainerPort: 5080}}}}}}, metav1.CreateOptions{})
	must(t, err)
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	_, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	must(t, err)
	_, err = cs.CoreV1().ServiceAccounts("team-console").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "viewer"}}, metav1.CreateOptions{})
	must(t, err)
}

// consoleRun is `kubectl mesos console` running in the background, with
// its port-forward replaced by one straight to upstream.
type consoleRun struct {
	out    syncBuffer
	cancel context.CancelFunc
	done   chan error
	// lose ends the forward as a lost connection would.
	lose chan error
	// forwarded is the pod and port the command forwarded to.
	forwarded chan string
}

func startConsole(t *testing.T, cfg *rest.Config, upstream string, args ...string) *consoleRun {
	t.Helper()
	r := &consoleRun{done: make(chan error, 1), lose: make(chan error, 1), forwarded: make(chan string, 1)}
	forward := func(ctx context.Context, _ *rest.Config, pod *corev1.Pod, port int32, _ io.Writer) (*kubectlmesos.PortForward, error) {
		r.forwarded <- fmt.Sprintf("%s/%s:%d", pod.Namespace, pod.Name, port)
		done := make(chan error, 1)
		go func() {
			select {
			case err := <-r.lose:
				done <- err
			case <-ctx.Done():
				done <- nil
			}
		}()
		return &kubectlmesos.PortForward{Local: strings.TrimPrefix(upstream, "http://"), Done: done}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	t.Cleanup(cancel)
	cmd := kubectlmesos.NewCommand(kubectlmesos.Options{Out: &r.out, ErrOut: &r.out, RESTConfig: cfg, ForwardPort: forward})
	cmd.SetArgs(append([]string{"console", "--port", "0"}, args...))
	go func() { r.done <- cmd.ExecuteContext(ctx) }()
	return r
}

var consoleLine = regexp.MustCompile(`Console: (http://127\.0\.0\.1:\d+/) \(as ([^;]+); Ctrl-C stops\)\n`)

// url waits for the command's line, or its end.
func (r *consoleRun) url(t *testing.T) (string, string) {
	t.Helper()
	var m []string
	testenv.Eventually(t, "the console line", 2*time.Minute, func() bool {
		select {
		case err := <-r.done:
			t.Fatalf("kubectl mesos console ended: %v\n%s", err, r.out.String())
		default:
		}
		m = consoleLine.FindStringSubmatch(r.out.String())
		return m != nil
	})
	return m[1], m[2]
}

func (r *consoleRun) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(2 * time.Minute): // bounds a broken build only
		t.Fatal("kubectl mesos console did not end")
		return nil
	}
}

// TestConsoleCommand runs `kubectl mesos console` against the real API
// server: the token of a service account (a TokenRequest) is one that a
// TokenReview accepts, the proxy sends it, the line names its user; a
// lost forward ends the command with an error, Ctrl-C without one; a
// client-certificate kubeconfig and a bad token are refused with what to
// do.
func TestConsoleCommand(t *testing.T) {
	e := startEnv(t)
	cs, err := kubernetes.NewForConfig(e.Config)
	must(t, err)
	const masterNS = "console-master"
	seedConsole(t, cs, masterNS)
	upstream, users := reviewingConsole(t, cs)

	// --service-account: a TokenRequest, accepted by a TokenReview.
	r := startConsole(t, e.Config, upstream.URL, "--service-account", "team-console/viewer", "--master-namespace", masterNS)
	local, user := r.url(t)
	const sa = "system:serviceaccount:team-console:viewer"
	if user != sa {
		t.Errorf("the console line names %q, want %q", user, sa)
	}
	if got := <-r.forwarded; got != masterNS+"/master-0:5080" {
		t.Errorf("forwarded to %s, want %s/master-0:5080 (the ready pod, its port named console)", got, masterNS)
	}
	resp, err := http.Get(local + "api/v1/tasks")
	must(t, err)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET through the proxy: %s", resp.Status)
	}
	if got := users(); len(got) != 2 || got[0] != sa || got[1] != sa {
		t.Errorf("the console saw users %q, want %s for the check and the request", got, sa)
	}
	r.lose <- portforward.ErrLostConnectionToPod
	if err := r.wait(t); err == nil || !strings.Contains(err.Error(), "the connection to the master (pod "+masterNS+"/master-0) was lost") {
		t.Errorf("after a lost forward: %v, want an error that says so", err)
	}

	// --token of that service account; Ctrl-C ends it without an error.
	tr, err := cs.CoreV1().ServiceAccounts("team-console").CreateToken(context.Background(), "viewer", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	must(t, err)
	r = startConsole(t, e.Config, upstream.URL, "--token", tr.Status.Token, "--master-namespace", masterNS)
	if _, user := r.url(t); user != sa {
		t.Errorf("--token: the console line names %q, want %q", user, sa)
	}
	r.cancel()
	if err := r.wait(t); err != nil {
		t.Errorf("after Ctrl-C: %v, want no error", err)
	}

	// envtest's admin authenticates with a client certificate.
	r = startConsole(t, e.Config, upstream.URL, "--master-namespace", masterNS)
	if err := r.wait(t); err == nil || !strings.Contains(err.Error(), "your kubeconfig authenticates with a client certificate, which the console cannot check: pass --service-account NAMESPACE/NAME") {
		t.Errorf("client-certificate kubeconfig: %v", err)
	}
	r = startConsole(t, e.Config, upstream.URL, "--token", "not-a-token", "--master-namespace", masterNS)
	if err := r.wait(t); err == nil || !strings.Contains(err.Error(), "the API server does not accept the token from --token") {
		t.Errorf("bad token: %v", err)
	}
	r = startConsole(t, e.Config, upstream.URL, "--service-account", "team-console/nobody", "--master-namespace", masterNS)
	if err := r.wait(t); err == nil || !strings.Contains(err.Error(), "service account nobody not found in namespace team-console") {
		t.Errorf("missing service account: %v", err)
	}
	r = startConsole(t, e.Config, upstream.URL, "--service-account", "team-console/viewer")
	if err := r.wait(t); err == nil || !strings.Contains(err.Error(), "service kubemesos-console not found in namespace kubemesos-system: is kubemesos installed with master.console.port set?") {
		t.Errorf("no console Service: %v", err)
	}
	if got := len(users()); got != 3 {
		t.Errorf("the console saw %d accepted requests, want 3 (the refused runs must not reach it)", got)
	}
}
