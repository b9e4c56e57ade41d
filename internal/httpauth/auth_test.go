package httpauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/time/rate"
	"k8s.io/apiserver/pkg/authentication/user"
	testclock "k8s.io/utils/clock/testing"
)

// fakeTokens accepts the tokens in users and counts the reviews.
type fakeTokens struct {
	mu      sync.Mutex
	users   map[string]string
	err     error
	reviews int
}

func (f *fakeTokens) review(_ context.Context, token string) (user.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reviews++
	if f.err != nil {
		return nil, f.err
	}
	name, ok := f.users[token]
	if !ok {
		return nil, nil
	}
	return &user.DefaultInfo{Name: name}, nil
}

// fakeAuthz allows what allowed holds (user + " " + attributes), records
// every question, and fails with err when set.
type fakeAuthz struct {
	mu      sync.Mutex
	allowed map[string]bool
	err     error
	asked   []Attributes
}

func (f *fakeAuthz) review(_ context.Context, u user.Info, attrs Attributes) (bool, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, attrs)
	if f.err != nil {
		return false, "", f.err
	}
	if f.allowed[u.GetName()+" "+attrs.String()] {
		return true, "", nil
	}
	return false, "no RBAC rule", nil
}

func newTestAuth(t *testing.T, cfg Config, tokens *fakeTokens, authz *fakeAuthz) *Auth {
	t.Helper()
	a, err := newAuth(cfg, tokens, authz)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// serve sends a request with the Authorization header auth (none when
// empty) through the middleware to a handler that authorizes call in
// namespace ns, and returns the status, the challenge and the body.
func serve(t *testing.T, a *Auth, auth, call, ns string) (int, string, string) {
	t.Helper()
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			t.Error("the handler sees the Authorization header")
		}
		caller, ok := CallerFrom(r.Context())
		if !ok {
			t.Fatal("no caller in the context")
		}
		if err := a.AuthorizeCall(r.Context(), caller, call, ns, "mc"); err != nil {
			a.WriteError(w, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	req := httptest.NewRequest(http.MethodPost, "/api/v1/scheduler", nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, rec.Header().Get("WWW-Authenticate"), string(body)
}

const (
	challenge        = `Basic realm="mesos-master-scheduler",Bearer realm="mesos-master-scheduler"`
	invalidChallenge = `Basic realm="mesos-master-scheduler",Bearer realm="mesos-master-scheduler", error="invalid_token"`
)

func TestMiddleware(t *testing.T) {
	tokens := &fakeTokens{users: map[string]string{"good": "alice"}}
	authz := &fakeAuthz{allowed: map[string]bool{
		`alice create frameworks.kubemesos.io in namespace "a"`:      true,
		`alice update frameworks.kubemesos.io "mc" in namespace "a"`: true,
		`alice create tasks.kubemesos.io in namespace "a"`:           true,
	}}
	a := newTestAuth(t, Config{}, tokens, authz)
	for _, tc := range []struct {
		name, auth, call, ns string
		code                 int
		challenge, body      string
	}{
		{name: "bearer, allowed", auth: "Bearer good", call: "SUBSCRIBE", ns: "a", code: 202},
		{name: "basic with the user as principal", auth: basic("alice", "good"), call: "ACCEPT", ns: "a", code: 202},
		{name: "basic without a principal", auth: basic("", "good"), call: "ACCEPT", ns: "a", code: 202},
		{name: "basic with another principal", auth: basic("bob", "good"), call: "ACCEPT", ns: "a", code: 401, challenge: invalidChallenge, body: `The principal "bob" is not the user`},
		{name: "another namespace", auth: "Bearer good", call: "SUBSCRIBE", ns: "b", code: 403, body: `alice may not create frameworks.kubemesos.io in namespace "b": no RBAC rule`},
		{name: "a call the caller may not make", auth: "Bearer good", call: "TEARDOWN", ns: "a", code: 403, body: "may not delete frameworks"},
		{name: "an unknown call", auth: "Bearer good", call: "NOPE", ns: "a", code: 403, body: "no authorization rule"},
		{name: "bad token", auth: "Bearer bad", call: "SUBSCRIBE", ns: "a", code: 401, challenge: invalidChallenge, body: "401 Unauthorized. "},
		{name: "malformed header", auth: "Bearer", call: "SUBSCRIBE", ns: "a", code: 401, challenge: invalidChallenge},
		{name: "no credentials", call: "SUBSCRIBE", ns: "a", code: 401, challenge: challenge, body: "no credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, ch, body := serve(t, a, tc.auth, tc.call, tc.ns)
			if code != tc.code || ch != tc.challenge || !strings.Contains(body, tc.body) {
				t.Fatalf("got %d, challenge %q, body %q; want %d, %q, a body with %q", code, ch, body, tc.code, tc.challenge, tc.body)
			}
			if tc.code != 202 && !strings.HasPrefix(body, fmt.Sprintf("%d %s. ", tc.code, http.StatusText(tc.code))) {
				t.Fatalf("the body %q does not start with the status", body)
			}
			if strings.Contains(body, "good") {
				t.Fatalf("the body %q holds the token", body)
			}
		})
	}
}

func TestUnavailableIs503(t *testing.T) {
	down := errors.New("connection refused")
	t.Run("TokenReview", func(t *testing.T) {
		a := newTestAuth(t, Config{}, &fakeTokens{err: down}, &fakeAuthz{})
		if code, ch, body := serve(t, a, "Bearer good", "SUBSCRIBE", "a"); code != 503 || ch != "" || !strings.Contains(body, "TokenReview") || strings.Contains(body, "refused") {
			t.Fatalf("got %d, %q, %q; want 503 without a challenge", code, ch, body)
		}
	})
	t.Run("SubjectAccessReview", func(t *testing.T) {
		a := newTestAuth(t, Config{}, &fakeTokens{users: map[string]string{"good": "alice"}}, &fakeAuthz{err: down})
		if code, _, body := serve(t, a, "Bearer good", "SUBSCRIBE", "a"); code != 503 || !strings.Contains(body, "SubjectAccessReview") || strings.Contains(body, "refused") {
			t.Fatalf("got %d, %q; want 503", code, body)
		}
	})
}

func TestAnonymous(t *testing.T) {
	const anon = "system:serviceaccount:a:mesos-anonymous"
	authz := &fakeAuthz{allowed: map[string]bool{
		anon + ` create tasks.kubemesos.io in namespace "a"`: true,
		anon + ` create tasks.kubemesos.io in namespace "b"`: true,
	}}
	a := newTestAuth(t, Config{Anonymous: &Anonymous{Namespace: "a"}}, &fakeTokens{}, authz)
	if code, _, body := serve(t, a, "", "ACCEPT", "a"); code != 202 {
		t.Fatalf("anonymous in its namespace: %d %q", code, body)
	}
	authz.asked = nil
	if code, _, body := serve(t, a, "", "ACCEPT", "b"); code != 403 || !strings.Contains(body, `may only act in namespace "a"`) {
		t.Fatalf("anonymous in another namespace: %d %q", code, body)
	}
	if len(authz.asked) != 0 {
		t.Fatalf("the authorizer was asked %v for a namespace the caller is limited out of", authz.asked)
	}
	if code, _, _ := serve(t, a, "", "TEARDOWN", "a"); code != 403 {
		t.Fatalf("anonymous beyond its rights: %d", code)
	}
	if code, ch, _ := serve(t, a, "Bearer bad", "ACCEPT", "a"); code != 401 || ch != invalidChallenge {
		t.Fatalf("a bad token with anonymous access on: %d %q; want 401, never anonymous", code, ch)
	}
}

func TestSchedulerCallAttributes(t *testing.T) {
	authz := &fakeAuthz{}
	a := newTestAuth(t, Config{}, &fakeTokens{}, authz)
	caller := &Caller{User: &user.DefaultInfo{Name: "alice"}, Scheme: SchemeBearer}
	for call := range SchedulerCalls {
		authz.asked = nil
		if err := a.AuthorizeCall(context.Background(), caller, call, "a", "mc"); StatusCode(err) != 403 {
			t.Fatalf("%s: %v", call, err)
		}
		if len(authz.asked) != 1 || authz.asked[0].Namespace != "a" {
			t.Fatalf("%s asked %v; want its first rule in namespace a", call, authz.asked)
		}
	}
	// SUBSCRIBE needs both, and names the framework on the update.
	authz.allowed = map[string]bool{`alice create frameworks.kubemesos.io in namespace "a"`: true}
	authz.asked = nil
	_ = a.AuthorizeCall(context.Background(), caller, "SUBSCRIBE", "a", "mc")
	want := []Attributes{
		{Verb: "create", Group: Group, Resource: "frameworks", Namespace: "a"},
		{Verb: "update", Group: Group, Resource: "frameworks", Namespace: "a", Name: "mc"},
	}
	if d := cmp.Diff(want, authz.asked); d != "" {
		t.Fatalf("SUBSCRIBE asked (-want +got):\n%s", d)
	}
}

func TestTokenCache(t *testing.T) {
	clk := testclock.NewFakeClock(time.Now())
	next := &fakeTokens{users: map[string]string{"good": "alice"}}
	c, err := newCachedTokenReviewer(next, 2, 10*time.Second, 5*time.Second, clk)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(token string, wantUser string, wantReviews int) {
		t.Helper()
		u, err := c.review(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if u != nil {
			got = u.GetName()
		}
		if got != wantUser || next.reviews != wantReviews {
			t.Fatalf("review(%q) = %q after %d reviews; want %q after %d", token, got, next.reviews, wantUser, wantReviews)
		}
	}
	check("good", "alice", 1)
	check("good", "alice", 1) // kept
	check("bad", "", 2)
	check("bad", "", 2) // refusals are kept too
	clk.Step(6 * time.Second)
	check("bad", "", 3) // the refusal expired
	check("good", "alice", 3)
	clk.Step(5 * time.Second)
	check("good", "alice", 4) // the acceptance expired

	// Bounded in size: a third token pushes out the least recently used.
	check("x", "", 5)
	check("y", "", 6)
	check("good", "alice", 7)

	// Failures are not kept.
	next.err = errors.New("down")
	if _, err := c.review(ctx, "z"); err == nil {
		t.Fatal("no error from a failed review")
	}
	next.err = nil
	check("z", "", 9)
	for _, k := range c.entries.Keys() {
		if strings.Contains(k.(string), "good") {
			t.Fatal("the cache holds a token")
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Realm: `a"b`},
		{Anonymous: &Anonymous{Namespace: "Not_A_Namespace"}},
		{Anonymous: &Anonymous{Namespace: ""}},
		{Anonymous: &Anonymous{Namespace: "a", ServiceAccount: "Bad Name"}},
	} {
		if _, err := newAuth(cfg, &fakeTokens{}, &fakeAuthz{}); err == nil {
			t.Errorf("newAuth(%+v) took a bad config", cfg)
		}
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New took no client")
	}
}

// TestNewTokensAreReviewedAtABoundedRate: tokens the cache has not seen
// wait for their turn to be reviewed; past the bound a caller gets an
// error (a 503 to retry), while a cached token is still answered.
func TestNewTokensAreReviewedAtABoundedRate(t *testing.T) {
	next := &fakeTokens{users: map[string]string{"good": "alice"}}
	c, err := newCachedTokenReviewer(next, 16, 10*time.Second, 5*time.Second, testclock.NewFakeClock(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	c.limiter = rate.NewLimiter(0, 1) // one review, and no more
	ctx := context.Background()
	if u, err := c.review(ctx, "good"); err != nil || u == nil {
		t.Fatalf("the first token: %v, %v", u, err)
	}
	if _, err := c.review(ctx, "junk-1"); err == nil {
		t.Error("a new token past the rate was reviewed")
	}
	if u, err := c.review(ctx, "good"); err != nil || u == nil || next.reviews != 1 {
		t.Errorf("the cached token: %v, %v after %d reviews", u, err, next.reviews)
	}
}

// TestAuthenticateToken checks a token sent otherwise than in the header:
// accepted with the scheme given, refused (401) when empty or bad, 503
// when the review fails.
func TestAuthenticateToken(t *testing.T) {
	a := newTestAuth(t, Config{}, &fakeTokens{users: map[string]string{"good": "alice"}}, &fakeAuthz{})
	c, err := a.AuthenticateToken(context.Background(), "good", SchemeCookie)
	if err != nil || c.User.GetName() != "alice" || c.Scheme != SchemeCookie {
		t.Errorf("a good token: %+v, %v", c, err)
	}
	for _, token := range []string{"", "bad"} {
		if _, err := a.AuthenticateToken(context.Background(), token, SchemeCookie); StatusCode(err) != http.StatusUnauthorized {
			t.Errorf("token %q: %v; want 401", token, err)
		}
	}
	down := newTestAuth(t, Config{}, &fakeTokens{err: errors.New("down")}, &fakeAuthz{})
	if _, err := down.AuthenticateToken(context.Background(), "good", SchemeCookie); StatusCode(err) != http.StatusServiceUnavailable {
		t.Errorf("a failed review: %v; want 503", err)
	}
}

// TestNewTokensAreRationedByAddress: an address (an IPv6 /64) that sends
// ever new tokens gets its burst of reviews, then 503 with Retry-After
// and no review, while another address still gets its tokens reviewed,
// and a token the cache knows is answered whatever the ration; the ration
// refills with time. Without RationByAddress, no address is rationed.
func TestNewTokensAreRationedByAddress(t *testing.T) {
	clk := testclock.NewFakeClock(time.Now())
	next := &fakeTokens{users: map[string]string{"good": "alice", "other": "bob"}}
	c, err := newCachedTokenReviewer(next, 1000, time.Minute, time.Minute, clk)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newAuth(Config{RationByAddress: true}, c, &fakeAuthz{})
	if err != nil {
		t.Fatal(err)
	}
	from := func(addr, token string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/scheduler", nil)
		r.RemoteAddr = addr
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		if _, err := a.Authenticate(r); err != nil {
			a.WriteError(w, err)
		}
		return w
	}
	if w := from("10.0.0.1:1000", "good"); w.Code != http.StatusOK {
		t.Fatalf("a first token: %d %q", w.Code, w.Body)
	}
	for i := range peerReviewBurst - 1 {
		if w := from("10.0.0.1:1000", fmt.Sprintf("junk-%d", i)); w.Code != http.StatusUnauthorized {
			t.Fatalf("junk token %d within the burst: %d, want 401", i, w.Code)
		}
	}
	reviews := next.reviews
	w := from("10.0.0.1:1001", "junk-more")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" || !strings.Contains(w.Body.String(), "Too many new tokens") {
		t.Fatalf("a new token past the address's burst: %d %v %q, want 503 with Retry-After", w.Code, w.Header(), w.Body)
	}
	if next.reviews != reviews {
		t.Error("a token past the address's ration was reviewed")
	}
	if w := from("10.0.0.1:1002", "good"); w.Code != http.StatusOK {
		t.Errorf("a token the cache knows, from the throttled address: %d, want it taken", w.Code)
	}
	if w := from("[::ffff:10.0.0.2]:1000", "other"); w.Code != http.StatusOK {
		t.Errorf("a new token from another address: %d, want it reviewed", w.Code)
	}
	for i := range peerReviewBurst {
		from(fmt.Sprintf("[2001:db8::%x]:1000", i+1), fmt.Sprintf("v6-junk-%d", i))
	}
	if w := from("[2001:db8::ffff]:1000", "v6-more"); w.Code != http.StatusServiceUnavailable {
		t.Errorf("a new token from the same /64 past its burst: %d, want 503", w.Code)
	}
	clk.Step(time.Second)
	if w := from("10.0.0.1:1000", "junk-later"); w.Code != http.StatusUnauthorized {
		t.Errorf("a new token a second later: %d, want it reviewed (401)", w.Code)
	}

	unrationed, err := newAuth(Config{}, c, &fakeAuthz{})
	if err != nil {
		t.Fatal(err)
	}
	a = unrationed
	for i := range peerReviewBurst + 5 {
		if w := from("10.0.0.9:1000", fmt.Sprintf("unrationed-%d", i)); w.Code != http.StatusUnauthorized {
			t.Fatalf("new token %d from one address without RationByAddress: %d, want it reviewed (401)", i, w.Code)
		}
	}
}
