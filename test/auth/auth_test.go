// Package auth tests internal/httpauth against a real kube-apiserver (built
// into bin/ by `make tools`): ServiceAccount tokens from the TokenRequest
// API, RBAC, and the API server's own request counters.
package auth

import (
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubemesos/kubemesos/internal/httpauth"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// Namespaces of the suite: the framework's Role is in nsA only.
const (
	nsA = "httpauth-a"
	nsB = "httpauth-b"
)

// oneTry fails a review at the first error, so that the outage tests do not
// wait out the default backoff.
var oneTry = &wait.Backoff{Duration: 10 * time.Millisecond, Steps: 1}

func clientset(t *testing.T) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func ensure(t *testing.T, err error) {
	t.Helper()
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// fixture creates the namespaces, the ServiceAccount fw in nsA with a Role
// there that lets it subscribe and launch, and the anonymous ServiceAccount
// of nsA, which a ClusterRole lets launch tasks in every namespace.
func fixture(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	for _, ns := range []string{nsA, nsB} {
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		ensure(t, err)
	}
	for _, sa := range []string{"fw", httpauth.DefaultAnonymousServiceAccount} {
		_, err := cs.CoreV1().ServiceAccounts(nsA).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
		ensure(t, err)
	}
	_, err := cs.RbacV1().Roles(nsA).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "mesos-framework"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"kubemesos.io"}, Resources: []string{"frameworks"}, Verbs: []string{"create", "update"}},
			{APIGroups: []string{"kubemesos.io"}, Resources: []string{"tasks"}, Verbs: []string{"create"}},
		},
	}, metav1.CreateOptions{})
	ensure(t, err)
	_, err = cs.RbacV1().RoleBindings(nsA).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "fw"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "mesos-framework"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "fw", Namespace: nsA}},
	}, metav1.CreateOptions{})
	ensure(t, err)
	_, err = cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "httpauth-launch-anywhere"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"kubemesos.io"}, Resources: []string{"tasks"}, Verbs: []string{"create"}}},
	}, metav1.CreateOptions{})
	ensure(t, err)
	_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "httpauth-anonymous"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "httpauth-launch-anywhere"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: httpauth.DefaultAnonymousServiceAccount, Namespace: nsA}},
	}, metav1.CreateOptions{})
	ensure(t, err)
}

// token returns a new token of the ServiceAccount fw in nsA from the
// TokenRequest API.
func token(t *testing.T, cs kubernetes.Interface) string {
	t.Helper()
	tr, err := cs.CoreV1().ServiceAccounts(nsA).CreateToken(context.Background(), "fw", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// server serves a stand-in of the scheduler endpoint: it authorizes the
// call named by the query's call in the query's namespace and answers 202.
func server(t *testing.T, cfg httpauth.Config) *httptest.Server {
	t.Helper()
	if cfg.Client == nil {
		cfg.Client = clientset(t)
	}
	a, err := httpauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, _ := httpauth.CallerFrom(r.Context())
		q := r.URL.Query()
		if err := a.AuthorizeCall(r.Context(), caller, q.Get("call"), q.Get("namespace"), "mc"); err != nil {
			a.WriteError(w, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})))
	t.Cleanup(s.Close)
	return s
}

// call sends call for namespace ns with the Authorization header auth (none
// when empty) and returns the status, the challenge and the body.
func call(t *testing.T, s *httptest.Server, auth, call, ns string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/api/v1/scheduler?"+url.Values{"call": {call}, "namespace": {ns}}.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(body)
}

func expect(t *testing.T, what string, code int, body string, want int) {
	t.Helper()
	if code != want {
		t.Fatalf("%s: %d %q; want %d", what, code, body, want)
	}
}

func basic(principal, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(principal+":"+secret))
}

const (
	challenge        = `Basic realm="mesos-master-scheduler",Bearer realm="mesos-master-scheduler"`
	invalidChallenge = challenge + `, error="invalid_token"`
	fwUser           = "system:serviceaccount:" + nsA + ":fw"
)

func TestServiceAccountToken(t *testing.T) {
	cs := clientset(t)
	fixture(t, cs)
	s := server(t, httpauth.Config{})
	tok := token(t, cs)

	code, _, body := call(t, s, "Bearer "+tok, "SUBSCRIBE", nsA)
	expect(t, "SUBSCRIBE in the Role's namespace", code, body, 202)
	code, _, body = call(t, s, "Bearer "+tok, "SUBSCRIBE", nsB)
	expect(t, "SUBSCRIBE in another namespace", code, body, 403)
	if !strings.Contains(body, fwUser+` may not create frameworks.kubemesos.io in namespace "`+nsB+`"`) {
		t.Errorf("the 403 body %q does not say what was refused", body)
	}
	code, _, body = call(t, s, "Bearer "+tok, "TEARDOWN", nsA)
	expect(t, "TEARDOWN, which the Role does not grant", code, body, 403)

	code, _, body = call(t, s, basic(fwUser, tok), "ACCEPT", nsA)
	expect(t, "Basic with the user as principal", code, body, 202)
	code, _, body = call(t, s, basic("", tok), "ACCEPT", nsA)
	expect(t, "Basic without a principal", code, body, 202)
	code, ch, body := call(t, s, basic("someone-else", tok), "ACCEPT", nsA)
	expect(t, "Basic with another principal", code, body, 401)
	if ch != invalidChallenge {
		t.Errorf("challenge %q; want %q", ch, invalidChallenge)
	}

	code, ch, body = call(t, s, "Bearer "+tok+"x", "ACCEPT", nsA)
	expect(t, "a bad token", code, body, 401)
	if ch != invalidChallenge {
		t.Errorf("challenge %q; want %q", ch, invalidChallenge)
	}
}

func TestAnonymousOptIn(t *testing.T) {
	cs := clientset(t)
	fixture(t, cs)

	s := server(t, httpauth.Config{})
	code, ch, body := call(t, s, "", "ACCEPT", nsA)
	expect(t, "no credentials without the opt-in", code, body, 401)
	if ch != challenge {
		t.Errorf("challenge %q; want %q", ch, challenge)
	}

	s = server(t, httpauth.Config{Anonymous: &httpauth.Anonymous{Namespace: nsA}})
	code, _, body = call(t, s, "", "ACCEPT", nsA)
	expect(t, "anonymous in its namespace", code, body, 202)
	// RBAC lets its ServiceAccount launch anywhere; the opt-in does not.
	code, _, body = call(t, s, "", "ACCEPT", nsB)
	expect(t, "anonymous in another namespace", code, body, 403)
	code, _, body = call(t, s, "", "SUBSCRIBE", nsA)
	expect(t, "anonymous beyond its ServiceAccount's rights", code, body, 403)
	code, _, body = call(t, s, "Bearer not-a-token", "ACCEPT", nsA)
	expect(t, "a bad token with the opt-in", code, body, 401)
}

// reviews counts the TokenReviews and SubjectAccessReviews the API server
// has answered.
func reviews(t *testing.T) (tokenReviews, accessReviews float64) {
	t.Helper()
	r, err := testenv.ReadRequests(context.Background(), env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return r.Count(func(r testenv.Request) bool { return r.Resource == "tokenreviews" }),
		r.Count(func(r testenv.Request) bool { return r.Resource == "subjectaccessreviews" })
}

func TestReviewsAreCached(t *testing.T) {
	cs := clientset(t)
	fixture(t, cs)
	s := server(t, httpauth.Config{})
	tok := token(t, cs)

	tr0, sar0 := reviews(t)
	for i := range 2 {
		code, _, body := call(t, s, "Bearer "+tok, "ACCEPT", nsA)
		expect(t, "ACCEPT", code, body, 202)
		tr, sar := reviews(t)
		if tr-tr0 != 1 || sar-sar0 != 1 {
			t.Fatalf("after %d identical requests the API server answered %v TokenReviews and %v SubjectAccessReviews; want 1 and 1", i+1, tr-tr0, sar-sar0)
		}
	}
	// Refusals are kept as well.
	tr0, _ = reviews(t)
	for i := range 2 {
		code, _, body := call(t, s, "Bearer "+tok+"x", "ACCEPT", nsA)
		expect(t, "a bad token", code, body, 401)
		if tr, _ := reviews(t); tr-tr0 != 1 {
			t.Fatalf("after %d requests with a bad token the API server answered %v TokenReviews; want 1", i+1, tr-tr0)
		}
	}
}

func TestUnreachableAPIServerIs503(t *testing.T) {
	// An address where nothing listens.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	down, err := kubernetes.NewForConfig(&rest.Config{Host: "https://" + addr, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, BearerToken: "x"})
	if err != nil {
		t.Fatal(err)
	}

	s := server(t, httpauth.Config{Client: down, Backoff: oneTry})
	code, ch, body := call(t, s, "Bearer some-token", "ACCEPT", nsA)
	expect(t, "TokenReview unreachable", code, body, 503)
	if ch != "" {
		t.Errorf("a 503 with a challenge %q", ch)
	}
	s = server(t, httpauth.Config{Client: down, Backoff: oneTry, Anonymous: &httpauth.Anonymous{Namespace: nsA}})
	code, _, body = call(t, s, "", "ACCEPT", nsA)
	expect(t, "SubjectAccessReview unreachable", code, body, 503)
}
