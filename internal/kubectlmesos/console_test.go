package kubectlmesos

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// tokenRequests answers TokenRequests for service accounts of fake
// clientset cs with tokens sa-token-1, sa-token-2, … that expire after
// what was asked, and records the requests.
type tokenRequests struct {
	mu       sync.Mutex
	requests []*authenticationv1.TokenRequest
	names    []string
}

func (tr *tokenRequests) install(cs *fake.Clientset, now func() time.Time) {
	cs.PrependReactor("create", "serviceaccounts", func(action k8stesting.Action) (bool, runtime.Object, error) {
		ca := action.(k8stesting.CreateAction)
		if ca.GetSubresource() != "token" {
			return false, nil, nil
		}
		req := ca.GetObject().(*authenticationv1.TokenRequest)
		tr.mu.Lock()
		defer tr.mu.Unlock()
		tr.requests = append(tr.requests, req.DeepCopy())
		tr.names = append(tr.names, ca.GetNamespace()+"/"+action.(k8stesting.CreateActionImpl).Name)
		out := req.DeepCopy()
		out.Status.Token = fmt.Sprintf("sa-token-%d", len(tr.requests))
		if req.Spec.ExpirationSeconds != nil {
			out.Status.ExpirationTimestamp = metav1.NewTime(now().Add(time.Duration(*req.Spec.ExpirationSeconds) * time.Second))
		}
		return true, out, nil
	})
}

func TestConsoleTokenOrder(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	exec := filepath.Join(dir, "exec-credential")
	if err := os.WriteFile(exec, []byte(`#!/bin/sh
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"exec-token"}}'
`), 0o700); err != nil {
		t.Fatal(err)
	}
	certOnly := &rest.Config{Host: "https://api.example:6443", TLSClientConfig: rest.TLSClientConfig{CertData: []byte("cert"), KeyData: []byte("key")}}
	withToken := &rest.Config{Host: "https://api.example:6443", BearerToken: "kubeconfig-token"}
	withFile := &rest.Config{Host: "https://api.example:6443", BearerTokenFile: tokenFile}
	withExec := &rest.Config{Host: "https://api.example:6443", ExecProvider: &clientcmdapi.ExecConfig{
		Command: exec, APIVersion: "client.authentication.k8s.io/v1", InteractiveMode: clientcmdapi.NeverExecInteractiveMode}}
	impersonating := rest.CopyConfig(withToken)
	impersonating.Impersonate = rest.ImpersonationConfig{UserName: "alice"}

	for _, tc := range []struct {
		name      string
		flags     consoleFlags
		cfg       *rest.Config
		want      string
		wantFrom  string
		wantSA    string
		wantErr   string
		wantCalls int
	}{
		{name: "--token wins over the kubeconfig", flags: consoleFlags{token: " flag-token\n"}, cfg: withToken, want: "flag-token", wantFrom: "--token"},
		{name: "--service-account wins over the kubeconfig", flags: consoleFlags{serviceAccount: "team/viewer", tokenDuration: time.Hour}, cfg: withToken,
			want: "sa-token-1", wantFrom: "service account team/viewer", wantSA: "team/viewer", wantCalls: 1},
		{name: "--service-account with a client certificate", flags: consoleFlags{serviceAccount: "ops/console", tokenDuration: 2 * time.Hour}, cfg: certOnly,
			want: "sa-token-1", wantFrom: "service account ops/console", wantSA: "ops/console", wantCalls: 1},
		{name: "kubeconfig token", cfg: withToken, want: "kubeconfig-token", wantFrom: "your kubeconfig"},
		{name: "kubeconfig token file", cfg: withFile, want: "file-token", wantFrom: "your kubeconfig"},
		{name: "kubeconfig exec plugin", cfg: withExec, want: "exec-token", wantFrom: "your kubeconfig"},
		{name: "client certificate only", cfg: certOnly, wantErr: "your kubeconfig authenticates with a client certificate, which the console cannot check: pass --service-account NAMESPACE/NAME"},
		{name: "impersonation", cfg: impersonating, wantErr: "cannot impersonate"},
		{name: "bad service account", flags: consoleFlags{serviceAccount: "viewer", tokenDuration: time.Hour}, cfg: withToken, wantErr: `--service-account: "viewer" is not NAMESPACE/NAME`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			cs := fake.NewClientset()
			var tr tokenRequests
			tr.install(cs, func() time.Time { return now })
			get, from, err := consoleToken(cs, tc.cfg, tc.flags, func() time.Time { return now })
			var got string
			if err == nil {
				got, err = get(context.Background())
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || from != tc.wantFrom {
				t.Errorf("token = %q from %q, want %q from %q", got, from, tc.want, tc.wantFrom)
			}
			if len(tr.requests) != tc.wantCalls {
				t.Fatalf("%d TokenRequests, want %d", len(tr.requests), tc.wantCalls)
			}
			if tc.wantCalls > 0 {
				r := tr.requests[0]
				if r.Spec.ExpirationSeconds == nil || *r.Spec.ExpirationSeconds != int64(tc.flags.tokenDuration/time.Second) {
					t.Errorf("ExpirationSeconds = %v, want %d", r.Spec.ExpirationSeconds, int64(tc.flags.tokenDuration/time.Second))
				}
				if len(r.Spec.Audiences) != 0 {
					t.Errorf("audiences = %v, want the API server's (none given)", r.Spec.Audiences)
				}
				if tr.names[0] != tc.wantSA {
					t.Errorf("token requested for %s, want %s", tr.names[0], tc.wantSA)
				}
			}
		})
	}
}

func TestServiceAccountTokenRenewed(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	cs := fake.NewClientset()
	var tr tokenRequests
	tr.install(cs, clock)
	get, _, err := consoleToken(cs, &rest.Config{}, consoleFlags{serviceAccount: "team/viewer", tokenDuration: time.Hour}, clock)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		advance time.Duration
		want    string
	}{
		{0, "sa-token-1"},
		{47 * time.Minute, "sa-token-1"}, // before four fifths of the hour
		{2 * time.Minute, "sa-token-2"},  // 49 min: renewed
		{10 * time.Minute, "sa-token-2"},
	} {
		now = now.Add(step.advance)
		got, err := get(context.Background())
		if err != nil || got != step.want {
			t.Errorf("at +%s: token %q, %v; want %q", step.advance, got, err, step.want)
		}
	}
}

func TestParseServiceAccount(t *testing.T) {
	for _, tc := range []struct {
		in       string
		ns, name string
		ok       bool
	}{
		{"team/viewer", "team", "viewer", true},
		{"viewer", "", "", false},
		{"/viewer", "", "", false},
		{"team/", "", "", false},
		{"a/b/c", "", "", false},
		{" team/viewer", "", "", false},
	} {
		ns, name, err := ParseServiceAccount(tc.in)
		if (err == nil) != tc.ok || ns != tc.ns || name != tc.name {
			t.Errorf("ParseServiceAccount(%q) = %q, %q, %v", tc.in, ns, name, err)
		}
	}
}

func FuzzParseServiceAccount(f *testing.F) {
	for _, s := range []string{"team/viewer", "", "/", "a/b/c", "team/ viewer"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ns, name, err := ParseServiceAccount(s)
		if err != nil {
			return
		}
		if ns == "" || name == "" || ns+"/"+name != s || strings.Contains(name, "/") {
			t.Errorf("ParseServiceAccount(%q) = %q, %q", s, ns, name)
		}
	})
}

func TestCheckLoopback(t *testing.T) {
	for _, tc := range []struct {
		address string
		accept  bool
		ok      bool
	}{
		{"127.0.0.1", false, true},
		{"127.0.0.2", false, true},
		{"::1", false, true},
		{"localhost", false, true},
		{"LOCALHOST", false, true},
		{"0.0.0.0", false, false},
		{"", false, false},
		{"::", false, false},
		{"192.168.1.10", false, false},
		{"console.example", false, false},
		{"0.0.0.0", true, true},
		{"192.168.1.10", true, true},
	} {
		err := checkLoopback(tc.address, tc.accept)
		if (err == nil) != tc.ok {
			t.Errorf("checkLoopback(%q, %v) = %v, want ok %v", tc.address, tc.accept, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--accept-non-loopback") || err != nil && !strings.Contains(err.Error(), "reads the console as") {
			t.Errorf("checkLoopback(%q) error does not say why and what to do: %v", tc.address, err)
		}
	}
}

func TestLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:5080": true, "localhost:5080": true, "[::1]:5080": true, "localhost": true, "[::1]": true,
		"evil.example:5080": false, "evil.example": false, "10.0.0.1:5080": false, "": false, "127.0.0.1.evil.example:5080": false,
	} {
		if got := loopbackHost(host); got != want {
			t.Errorf("loopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}

// fakeConsole is an upstream console: /api/v1/events writes one event,
// flushes, waits for release, then writes a second; /stream does the same
// as text/plain, which the proxy flushes only because it is told to
// (FlushInterval). Every request's Authorization and Host are recorded.
type fakeConsole struct {
	release chan struct{}
	ended   chan struct{}

	mu     sync.Mutex
	auth   []string
	hosts  []string
	cookie []string
}

func newFakeConsole(t *testing.T) (*fakeConsole, *httptest.Server) {
	fc := &fakeConsole{release: make(chan struct{}), ended: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fc.mu.Lock()
		fc.auth = append(fc.auth, r.Header.Get("Authorization"))
		fc.hosts = append(fc.hosts, r.Host)
		if ck := r.Header.Get("Cookie"); ck != "" {
			fc.cookie = append(fc.cookie, ck)
		}
		fc.mu.Unlock()
		switch r.URL.Path {
		case "/api/v1/events", "/stream":
			if r.URL.Path == "/stream" {
				w.Header().Set("Content-Type", "text/plain")
			} else {
				w.Header().Set("Content-Type", "text/event-stream")
			}
			_, _ = io.WriteString(w, "event: overview\ndata: {\"cycle\":1}\n\n")
			w.(http.Flusher).Flush()
			<-fc.release
			_, _ = io.WriteString(w, "event: overview\ndata: {\"cycle\":2}\n\n")
			w.(http.Flusher).Flush()
			close(fc.ended)
		case "/api/v1/overview":
			if r.Header.Get("Authorization") != "Bearer good" {
				writeConsoleError(w, http.StatusUnauthorized, "The token is not valid.")
				return
			}
			_, _ = io.WriteString(w, `{"cycle":1}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return fc, srv
}

// cookies are the Cookie headers the fake console received.
func (fc *fakeConsole) cookies() []string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return append([]string(nil), fc.cookie...)
}

func (fc *fakeConsole) seen() ([]string, []string) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return append([]string(nil), fc.auth...), append([]string(nil), fc.hosts...)
}

func staticToken(s string) tokenFunc {
	return func(context.Context) (string, error) { return s, nil }
}

func TestConsoleProxyAddsTokenAndStreams(t *testing.T) {
	for _, path := range []string{"/api/v1/events", "/stream"} {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) { testProxyStreams(t, path) })
	}
}

func testProxyStreams(t *testing.T, path string) {
	fc, upstream := newFakeConsole(t)
	target, _ := url.Parse(upstream.URL)
	proxy := httptest.NewServer(consoleProxy(target, staticToken("good"), ""))
	defer proxy.Close()
	var release sync.Once
	defer release.Do(func() { close(fc.release) }) // before the servers close, even on failure

	type answer struct {
		resp *http.Response
		rd   *bufio.Reader
		line string
		err  error
	}
	first := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, proxy.URL+path, nil)
		req.Header.Set("Authorization", "Bearer someone-else") // replaced
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			first <- answer{err: err}
			return
		}
		rd := bufio.NewReader(resp.Body)
		line, _ := rd.ReadString('\n')
		_, _ = rd.ReadString('\n') // data
		first <- answer{resp: resp, rd: rd, line: line}
	}()
	var a answer
	select {
	case a = <-first:
	case <-fc.ended:
		t.Fatal("the upstream finished before the first event came through")
	case <-time.After(time.Minute): // bounds a broken build only
		t.Fatal("the first event did not come through while the upstream waits: the proxy buffers the stream")
	}
	if a.err != nil {
		t.Fatal(a.err)
	}
	defer func() { _ = a.resp.Body.Close() }()
	if a.resp.StatusCode != http.StatusOK || a.line != "event: overview\n" {
		t.Fatalf("%s: %s, first line %q", path, a.resp.Status, a.line)
	}
	select {
	case <-fc.ended:
		t.Fatal("the upstream finished before it was released")
	default:
	}
	release.Do(func() { close(fc.release) })
	tail, _ := io.ReadAll(a.rd)
	if !strings.Contains(string(tail), `{"cycle":2}`) {
		t.Errorf("second event missing: %q", tail)
	}
	auth, hosts := fc.seen()
	if len(auth) != 1 || auth[0] != "Bearer good" {
		t.Errorf("upstream saw Authorization %q, want the proxy's token only", auth)
	}
	if len(hosts) != 1 || hosts[0] != strings.TrimPrefix(proxy.URL, "http://") {
		t.Errorf("upstream saw Host %q, want the browser's %s", hosts, proxy.URL)
	}
}

// TestConsoleProxyRefusesOtherHosts: the proxy answers requests to
// loopback, and to the address it serves on when given one; a name that a
// page made resolve to this machine is refused, whatever the flags; every
// answer is marked, and a login cookie is not passed on.
func TestConsoleProxyRefusesOtherHosts(t *testing.T) {
	fc, upstream := newFakeConsole(t)
	target, _ := url.Parse(upstream.URL)
	for _, tc := range []struct {
		served, host string
		want         int
	}{
		{"", "rebound.example:5080", http.StatusForbidden},
		{"10.0.0.5", "rebound.example:5080", http.StatusForbidden},
		{"10.0.0.5", "10.0.0.5:5080", http.StatusOK},
		{"", "localhost:5080", http.StatusOK},
		{"", "[::1]:5080", http.StatusOK},
	} {
		proxy := httptest.NewServer(consoleProxy(target, staticToken("good"), tc.served))
		req, _ := http.NewRequest(http.MethodGet, proxy.URL+"/api/v1/overview", nil)
		req.Host = tc.host
		req.Header.Set("Cookie", "kubemesos-console-token=stolen")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		proxy.Close()
		if resp.StatusCode != tc.want || resp.Header.Get(HeaderProxy) == "" {
			t.Errorf("served on %q, Host %s: %s %s (marked %q), want %d and marked", tc.served, tc.host, resp.Status, body, resp.Header.Get(HeaderProxy), tc.want)
		}
		if tc.want == http.StatusForbidden && !strings.Contains(ConsoleMessage(body), "loopback") {
			t.Errorf("refusal does not say why: %s", body)
		}
	}
	if auth, _ := fc.seen(); len(auth) != 3 {
		t.Errorf("upstream saw %d requests, want 3 (refused ones must not pass)", len(auth))
	}
	if cookies := fc.cookies(); len(cookies) != 0 {
		t.Errorf("the proxy passed the browser's cookies on: %q", cookies)
	}
}

func TestCheckConsole(t *testing.T) {
	_, upstream := newFakeConsole(t)
	target, _ := url.Parse(upstream.URL)
	for _, tc := range []struct {
		token, wantErr string
	}{
		{"good", ""},
		{"bad", "the console does not accept the token from --token (401 Unauthorized): The token is not valid."},
	} {
		proxy := httptest.NewServer(consoleProxy(target, staticToken(tc.token), ""))
		err := checkConsole(context.Background(), proxy.URL+"/", "--token")
		proxy.Close()
		if (tc.wantErr == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("token %s: checkConsole = %v, want %q", tc.token, err, tc.wantErr)
		}
	}
	// A port-forward that answers nothing: the proxy says so.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	defer func() { _ = ln.Close() }()
	proxy := httptest.NewServer(consoleProxy(&url.URL{Scheme: "http", Host: ln.Addr().String()}, staticToken("good"), ""))
	defer proxy.Close()
	if err := checkConsole(context.Background(), proxy.URL+"/", "--token"); err == nil || !strings.Contains(err.Error(), "502 Bad Gateway: the master's console did not answer through the port-forward") {
		t.Errorf("checkConsole through a dead forward = %v", err)
	}
}

func TestConsoleMessage(t *testing.T) {
	for in, want := range map[string]string{
		`{"code":403,"message":"You may not list agents."}`: "You may not list agents.",
		"upstream connect error\n":                          "upstream connect error",
		"":                                                  "(no message)",
		`{"code":500}`:                                      `{"code":500}`,
		strings.Repeat("x", 300):                            strings.Repeat("x", 200) + "…",
	} {
		if got := ConsoleMessage([]byte(in)); got != want {
			t.Errorf("ConsoleMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzConsoleMessage(f *testing.F) {
	for _, s := range []string{`{"code":401,"message":"no"}`, "", "\xff\xfe", `{"message":""}`, strings.Repeat("é", 300)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got := ConsoleMessage(body)
		if got == "" {
			t.Errorf("ConsoleMessage(%q) is empty", body)
		}
		if !strings.HasPrefix(strings.TrimSpace(string(body)), "{") && len([]rune(got)) > 201 {
			t.Errorf("ConsoleMessage(%q) is %d runes long", body, len([]rune(got)))
		}
	})
}

// consoleObjects are a console Service and its pods: m-0 not ready, m-1
// ready with the named port console, m-2 ready but being deleted.
func consoleObjects(ns string) []runtime.Object {
	sel := map[string]string{"app.kubernetes.io/component": "master"}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: ConsoleService, Namespace: ns}, Spec: corev1.ServiceSpec{
		Selector: sel,
		Ports: []corev1.ServicePort{
			{Name: "other", Port: 80, TargetPort: intstr.FromInt32(8080)},
			{Name: ConsolePortName, Port: 5080, TargetPort: intstr.FromString("console")},
		}}}
	pod := func(name string, ready bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: sel},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "master", Ports: []corev1.ContainerPort{
				{Name: "metrics", ContainerPort: 8080}, {Name: "console", ContainerPort: 5081}}}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
		return p
	}
	deleting := pod("m-0a", true)
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	deleting.Finalizers = []string{"test"}
	other := pod("x-0", true)
	other.Labels = map[string]string{"app": "other"}
	return []runtime.Object{svc, pod("m-0", false), deleting, pod("m-1", true), other}
}

func TestConsolePod(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(consoleObjects("kubemesos-system")...)
	pod, port, err := consolePod(ctx, cs, "kubemesos-system")
	if err != nil {
		t.Fatal(err)
	}
	if pod.Name != "m-1" || port != 5081 {
		t.Errorf("consolePod = %s port %d, want m-1 port 5081 (the ready pod, its container port named console)", pod.Name, port)
	}

	_, _, err = consolePod(ctx, cs, "elsewhere")
	if err == nil || !strings.Contains(err.Error(), "is kubemesos installed with master.console.port set?") {
		t.Errorf("no Service: %v", err)
	}

	objs := consoleObjects("ns")
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			p.Status.Conditions[0].Status = corev1.ConditionFalse
		}
	}
	_, _, err = consolePod(ctx, fake.NewClientset(objs...), "ns")
	if err == nil || !strings.Contains(err.Error(), "no ready pod behind service kubemesos-console in namespace ns (3 match its selector)") ||
		!strings.Contains(err.Error(), "master.console.port") {
		t.Errorf("no ready pod: %v", err)
	}
}

func TestTargetPort(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "console", ContainerPort: 7000}}}}}}
	for _, tc := range []struct {
		sp   corev1.ServicePort
		want int32
		ok   bool
	}{
		{corev1.ServicePort{Port: 5080, TargetPort: intstr.FromString("console")}, 7000, true},
		{corev1.ServicePort{Port: 5080, TargetPort: intstr.FromInt32(6000)}, 6000, true},
		{corev1.ServicePort{Port: 5080}, 5080, true},
		{corev1.ServicePort{Port: 5080, TargetPort: intstr.FromString("web")}, 0, false},
	} {
		got, err := targetPort(tc.sp, pod)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("targetPort(%v) = %d, %v; want %d", tc.sp.TargetPort, got, err, tc.want)
		}
	}
}

func TestConsoleFlagsRefusedBeforeAnyRequest(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"console", "--address", "0.0.0.0"}, "--address 0.0.0.0 is not a loopback address"},
		{[]string{"console", "--token-duration", "5m", "--service-account", "a/b"}, "shorter than 10m0s"},
		{[]string{"console", "--port", "70000"}, "is not a port"},
		{[]string{"console", "--token", "t", "--service-account", "a/b"}, "none of the others can be"},
	} {
		var out bytes.Buffer
		// No API server: each must fail before it is needed.
		cmd := NewCommand(Options{Out: &out, ErrOut: &out, RESTConfig: &rest.Config{Host: "http://127.0.0.1:1"}})
		cmd.SetArgs(tc.args)
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.wantErr)
		}
	}
}

func TestConsoleCompletion(t *testing.T) {
	var out bytes.Buffer
	cmd := NewCommand(Options{Out: &out, ErrOut: io.Discard, RESTConfig: &rest.Config{Host: "http://127.0.0.1:1"}})
	cmd.SetArgs([]string{"__complete", "con"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "console\t") {
		t.Errorf("completion of con:\n%s", out.String())
	}
	out.Reset()
	cmd = NewCommand(Options{Out: &out, ErrOut: io.Discard, RESTConfig: &rest.Config{Host: "http://127.0.0.1:1"}})
	cmd.SetArgs([]string{"__complete", "console", "--"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"--service-account", "--token", "--token-duration", "--address", "--port", "--accept-non-loopback", "--master-namespace"} {
		if !strings.Contains(out.String(), f+"\t") {
			t.Errorf("completion of console flags lacks %s:\n%s", f, out.String())
		}
	}
}
