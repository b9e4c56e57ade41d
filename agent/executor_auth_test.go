package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/scheme"
)

// jwt makes an unsigned token with claims (what parseClaims reads).
func jwt(claims map[string]any) string {
	raw, _ := json.Marshal(claims)
	return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(raw) + ".c2ln"
}

func podClaims(aud any, exp time.Time) map[string]any {
	return map[string]any{"aud": aud, "exp": exp.Unix(), "kubernetes.io": map[string]any{"namespace": "ns", "pod": map[string]any{"name": "p", "uid": "u1"}}}
}

func accepted(user string, extra map[string]authenticationv1.ExtraValue) authenticationv1.TokenReviewStatus {
	return authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: []string{executorapi.TokenAudience},
		User: authenticationv1.UserInfo{Username: user, Extra: extra}}
}

var podExtra = map[string]authenticationv1.ExtraValue{
	"authentication.kubernetes.io/pod-name": {"p"}, "authentication.kubernetes.io/pod-uid": {"u1"}, "authentication.kubernetes.io/node-name": {"n1"}}

func callStatus(err error) int {
	var ce *CallError
	if errors.As(err, &ce) {
		return ce.Status
	}
	return 0
}

// TestTokenAuthenticator: tokens that can never pass are refused without
// asking the API server; its answers are remembered by the token's hash,
// accepted ones no longer than the token lives; a failing API server is a
// 503, never remembered.
func TestTokenAuthenticator(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_000_000, 0))
	var reviews int
	var answer authenticationv1.TokenReviewStatus
	var fail error
	x := newTokenAuthenticator(func(_ context.Context, token string) (authenticationv1.TokenReviewStatus, error) {
		reviews++
		return answer, fail
	}, clk, logr.Discard())
	ctx := context.Background()
	pod := netip.MustParseAddr("10.0.0.1")

	good := jwt(podClaims([]string{"other", executorapi.TokenAudience}, clk.Now().Add(30*time.Second)))
	answer = accepted("system:serviceaccount:ns:default", podExtra)
	id, err := x.identify(ctx, good, pod, false)
	if err != nil || id != (podIdentity{Namespace: "ns", Name: "p", UID: "u1", Node: "n1"}) {
		t.Fatalf("a good token: %+v, %v", id, err)
	}
	if _, err := x.identify(ctx, good, pod, false); err != nil || reviews != 1 {
		t.Errorf("a remembered token: %v, %d reviews; want 1", err, reviews)
	}
	if _, err := x.identify(ctx, good, pod, true); err != nil || reviews != 2 {
		t.Errorf("a fresh look: %v, %d reviews; want 2", err, reviews)
	}
	if _, ok := x.accepted.Get(good); ok {
		t.Error("the cache is keyed by the token itself")
	}
	clk.Step(31 * time.Second) // past the token's expiry, within the cache's minute
	if _, err := x.identify(ctx, good, pod, false); callStatus(err) != http.StatusUnauthorized || !strings.Contains(err.Error(), "expired") || reviews != 2 {
		t.Errorf("an expired token: %v after %d reviews; want a 401 without asking", err, reviews)
	}

	later := clk.Now().Add(time.Hour)
	for name, tc := range map[string]struct {
		token string
		want  string
	}{
		"empty":                 {"", "no executor token"},
		"not a JWT":             {"abc", "not a JWT"},
		"bad payload":           {"a.!!!.c", "base64url"},
		"no expiry":             {jwt(map[string]any{"aud": executorapi.TokenAudience}), "no expiry"},
		"another audience":      {jwt(podClaims("https://kubernetes.default.svc", later)), `is for ["https://kubernetes.default.svc"]`},
		"bound to no pod":       {jwt(map[string]any{"aud": executorapi.TokenAudience, "exp": later.Unix()}), "not bound to a pod"},
		"far too long":          {strings.Repeat("x", maxTokenBytes+1), "far fewer"},
		"aud of the wrong type": {jwt(map[string]any{"aud": 7, "exp": later.Unix()}), "aud is neither"},
		// null is no audience (it was read as one empty audience).
		"aud null": {jwt(podClaims(nil, later)), "is for [], not"},
	} {
		if _, err := x.identify(ctx, tc.token, pod, false); callStatus(err) != http.StatusUnauthorized || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a 401 containing %q", name, err, tc.want)
		}
	}
	if reviews != 2 {
		t.Errorf("tokens that can never pass made %d reviews", reviews-2)
	}

	token := func(i int) string {
		c := podClaims(executorapi.TokenAudience, later)
		c["jti"] = i
		return jwt(c)
	}
	for i, tc := range []struct {
		answer authenticationv1.TokenReviewStatus
		want   string
	}{
		{authenticationv1.TokenReviewStatus{Error: "service account token has been invalidated"}, "refused the executor token: service account token has been invalidated"},
		{authenticationv1.TokenReviewStatus{Authenticated: true, User: answer.User}, "did not accept"},
		{accepted("alice", podExtra), "not a service account's"},
		{accepted("system:serviceaccount:ns:default", nil), "not bound to a pod"},
	} {
		answer = tc.answer
		n := reviews
		for range 2 {
			if _, err := x.identify(ctx, token(i), pod, false); callStatus(err) != http.StatusUnauthorized || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("answer %+v: %v, want a 401 containing %q", tc.answer, err, tc.want)
			}
		}
		if reviews != n+1 {
			t.Errorf("a refused token was reviewed %d times, want once", reviews-n)
		}
	}

	fail = errors.New("connection refused")
	n := reviews
	for range 2 {
		if _, err := x.identify(ctx, token(99), pod, false); callStatus(err) != http.StatusServiceUnavailable {
			t.Errorf("the API server failing: %v, want a 503", err)
		}
	}
	if reviews != n+2 {
		t.Error("a failed review was remembered")
	}
}

// TestExecutorOfPod: a token's pod is an executor only if this agent
// launched it on its node, under its current agentID, and it is (by name)
// the pod of the executor its annotation names.
func TestExecutorOfPod(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientBuilder().WithScheme(scheme.New()).Build()
	id := &identity{dir: t.TempDir(), id: "ag-1"}
	r := &taskReconciler{client: c, clock: clocktesting.NewFakeClock(time.Unix(1000, 0)), log: logr.Discard(), options: Options{NodeName: "n1"},
		id: id, created: map[string]time.Time{}, ended: newEnded(clocktesting.NewFakeClock(time.Unix(1000, 0)))}
	x := &executorAuthenticator{pods: c, node: "n1", id: id}
	custom := b.MakeTask("t1", "ns").Executor("e", "img").Obj()
	custom.Spec.Framework = "fw"
	command := b.MakeTask("t2", "ns").Command("busybox").Obj()
	command.Spec.Framework, command.UID = "fw", "task-uid"
	if err := c.Create(ctx, command); err != nil {
		t.Fatal(err)
	}
	launch := func(task *kmv1.Task) *corev1.Pod {
		name := podNameFor(task, id.get())
		if err := r.createPod(ctx, task, name); err != nil {
			t.Fatal(err)
		}
		var p corev1.Pod
		if err := c.Get(ctx, types.NamespacedName{Namespace: "ns", Name: name}, &p); err != nil {
			t.Fatal(err)
		}
		p.UID = types.UID("uid-" + name)
		if err := c.Update(ctx, &p); err != nil {
			t.Fatal(err)
		}
		return &p
	}
	execPod, cmdPod := launch(custom), launch(command)
	idOf := func(p *corev1.Pod) podIdentity {
		return podIdentity{Namespace: p.Namespace, Name: p.Name, UID: p.UID, Node: "n1"}
	}
	if k, err := x.executorOfPod(ctx, idOf(execPod)); err != nil || k != (ExecutorKey{Namespace: "ns", Framework: "fw", ExecutorID: "e"}) {
		t.Errorf("the custom executor's pod: %v, %v", k, err)
	}
	if k, err := x.executorOfPod(ctx, idOf(cmdPod)); err != nil || k != (ExecutorKey{Namespace: "ns", Framework: "fw", ExecutorID: "t2"}) {
		t.Errorf("the command task's pod: %v, %v", k, err)
	}

	change := func(p *corev1.Pod, f func(*corev1.Pod)) {
		t.Helper()
		var cur corev1.Pod
		if err := c.Get(ctx, client.ObjectKeyFromObject(p), &cur); err != nil {
			t.Fatal(err)
		}
		f(&cur)
		if err := c.Update(ctx, &cur); err != nil {
			t.Fatal(err)
		}
	}
	gone := idOf(execPod)
	gone.Name = "nope"
	replaced := idOf(execPod)
	replaced.UID = "older"
	elsewhere := idOf(execPod)
	elsewhere.Node = "n2"
	for name, tc := range map[string]struct {
		id   podIdentity
		edit func(*corev1.Pod)
		code int
		want string
	}{
		"gone":                        {id: gone, want: "stale"},
		"replaced":                    {id: replaced, want: "stale"},
		"on another node":             {id: elsewhere, code: 403, want: "this agent serves node n1"},
		"not labelled as an executor": {id: idOf(execPod), edit: func(p *corev1.Pod) { delete(p.Labels, kmv1.LabelComponent) }, code: 403, want: "not an executor pod"},
		"of an older agentID":         {id: idOf(execPod), edit: func(p *corev1.Pod) { p.Annotations[AnnotationAgentID] = "ag-0" }, code: 403, want: `launched under agentID "ag-0"`},
		"claiming another executor":   {id: idOf(execPod), edit: func(p *corev1.Pod) { p.Annotations[AnnotationExecutorID] = "f" }, code: 403, want: "not the pod of executor ns/fw/f"},
		"claiming another task":       {id: idOf(cmdPod), edit: func(p *corev1.Pod) { p.Annotations[AnnotationExecutorID] = "t1" }, code: 403, want: "task t1 is gone"},
	} {
		pod := execPod
		if tc.id.Name == cmdPod.Name {
			pod = cmdPod
		}
		var saved corev1.Pod
		_ = c.Get(ctx, client.ObjectKeyFromObject(pod), &saved)
		if tc.edit != nil {
			change(pod, tc.edit)
		}
		_, err := x.executorOfPod(ctx, tc.id)
		switch {
		case tc.want == "stale":
			if !errors.Is(err, errStalePod) {
				t.Errorf("%s: %v, want the pod taken for stale", name, err)
			}
		case callStatus(err) != tc.code || !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: %v, want %d containing %q", name, err, tc.code, tc.want)
		}
		if tc.edit != nil {
			change(pod, func(p *corev1.Pod) { p.Labels, p.Annotations = saved.Labels, saved.Annotations })
		}
	}
}

// FuzzParseClaims: whatever token an executor sends, parseClaims (which
// reads it before the API server verified it) does not panic; what it
// takes has an expiry, came from a token of three parts, and reads back
// the same from a token made of it.
func FuzzParseClaims(f *testing.F) {
	later := time.Unix(2_000_000_000, 0)
	for _, token := range []string{
		jwt(podClaims(executorapi.TokenAudience, later)),
		jwt(podClaims([]string{"other", executorapi.TokenAudience}, later)),
		jwt(map[string]any{"aud": nil, "exp": -1, "kubernetes.io": map[string]any{"pod": nil}}),
		jwt(map[string]any{"aud": 7, "exp": later.Unix()}),
		jwt(map[string]any{"exp": 1.5}),
		"a.b.c", "..", "", "a.!!.c", "a." + base64.RawURLEncoding.EncodeToString([]byte("null")) + ".c",
		"a." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":1}`)) + "=.c",
	} {
		f.Add(token)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := parseClaims(token)
		if err != nil {
			return
		}
		if c.Exp == 0 || strings.Count(token, ".") != 2 {
			t.Fatalf("parseClaims(%q) took %+v", token, c)
		}
		payload, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("parseClaims(%q) = %+v, which does not encode: %v", token, c, err)
		}
		again, err := parseClaims("h." + base64.RawURLEncoding.EncodeToString(payload) + ".s")
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("parseClaims(%q) = %+v, which reads back from %s as %+v, %v", token, c, payload, again, err)
		}
	})
}

// TestMadeUpTokensSpendTheirSendersReviews: a pod that sends made-up
// tokens (each different, so that no refusal is remembered) spends the
// TokenReviews of its own address, not those that the node's executors
// need: an executor calling meanwhile, from its own address, is verified
// at once instead of being told that the agent verifies too many tokens.
func TestMadeUpTokensSpendTheirSendersReviews(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1_000_000, 0))
	good := jwt(podClaims(executorapi.TokenAudience, clk.Now().Add(time.Hour)))
	x := newTokenAuthenticator(func(_ context.Context, token string) (authenticationv1.TokenReviewStatus, error) {
		if token == good {
			return accepted("system:serviceaccount:ns:default", podExtra), nil
		}
		return authenticationv1.TokenReviewStatus{Error: "invalid signature"}, nil
	}, clk, logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	attacker, executor := netip.MustParseAddr("10.0.0.66"), netip.MustParseAddr("10.0.0.7")
	var sent atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c := podClaims(executorapi.TokenAudience, clk.Now().Add(time.Hour))
				c["jti"] = sent.Add(1)
				_, _ = x.identify(ctx, jwt(c), attacker, false)
			}
		}()
	}
	for sent.Load() < 1000 {
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := x.identify(ctx, good, executor, false); err != nil {
		t.Errorf("an executor's token while another pod sends made-up ones: %v, want it verified", err)
	}
	cancel()
	wg.Wait()
}
