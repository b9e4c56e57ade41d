package httpauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// Defaults of Config.
const (
	// DefaultRealm is the realm of the 401 challenges: Mesos's realm for
	// HTTP frameworks.
	DefaultRealm = "mesos-master-scheduler"
	// DefaultAnonymousServiceAccount is the ServiceAccount an anonymous
	// caller acts as when Anonymous.ServiceAccount is empty.
	DefaultAnonymousServiceAccount = "mesos-anonymous"
	// DefaultTokenCacheSize bounds the number of TokenReview answers kept.
	DefaultTokenCacheSize = 4096
	// DefaultTokenSuccessTTL is how long an accepted token is trusted
	// without asking again; short, so that a revoked token stops working
	// soon.
	DefaultTokenSuccessTTL = 10 * time.Second
	// DefaultTokenFailureTTL is how long a refused token is refused without
	// asking again.
	DefaultTokenFailureTTL = 10 * time.Second
	// DefaultAllowTTL is how long a SubjectAccessReview that allowed is
	// kept.
	DefaultAllowTTL = 10 * time.Second
	// DefaultDenyTTL is how long a SubjectAccessReview that refused is
	// kept.
	DefaultDenyTTL = 10 * time.Second
	// DefaultReviewTimeout bounds one review, its retries included.
	DefaultReviewTimeout = 10 * time.Second
)

// DefaultBackoff is how a review that failed for a passing reason is
// retried before the request gets a 503: five tries within about four
// seconds.
var DefaultBackoff = wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}

// Anonymous is the opt-in for callers without credentials.
type Anonymous struct {
	// Namespace is the only namespace an anonymous caller may act in.
	Namespace string
	// ServiceAccount, in Namespace, is whose RBAC rights an anonymous
	// caller has (DefaultAnonymousServiceAccount when empty).
	ServiceAccount string
}

// Config configures an Auth. Only Client is required.
type Config struct {
	// Client sends the TokenReviews and SubjectAccessReviews; its identity
	// needs create on both (see the master's RBAC).
	Client kubernetes.Interface
	// Realm is the realm of the 401 challenges (DefaultRealm when empty).
	Realm string
	// Audiences, when set, are the audiences a token must be for; empty
	// means the API server's own.
	Audiences []string
	// Anonymous, when set, lets requests without credentials in, as its
	// ServiceAccount and only in its namespace. Nil refuses them (401).
	Anonymous *Anonymous
	// RationByAddress gives each source address of Authenticate's
	// requests its own share of the reviews of tokens the cache has not
	// seen (5 a second, bursts of 20; more get 503 with Retry-After).
	// Only for callers whose address is their own: not behind a proxy
	// that all share, as the console's standbys are.
	RationByAddress bool
	// TokenCacheSize, TokenSuccessTTL and TokenFailureTTL bound the cache
	// of TokenReview answers (the defaults when zero).
	TokenCacheSize                   int
	TokenSuccessTTL, TokenFailureTTL time.Duration
	// AllowTTL and DenyTTL are how long SubjectAccessReview answers are
	// kept (the defaults when zero).
	AllowTTL, DenyTTL time.Duration
	// ReviewTimeout bounds one review, its retries included
	// (DefaultReviewTimeout when zero).
	ReviewTimeout time.Duration
	// Backoff is how failed reviews are retried before the request gets a
	// 503 (DefaultBackoff when nil).
	Backoff *wait.Backoff
	// Clock is the caches' clock (the real one when nil).
	Clock clock.PassiveClock
	// Log receives failures to reach the API server.
	Log logr.Logger
}

// Auth authenticates and authorizes HTTP callers by the Kubernetes API
// server. It is safe for concurrent use.
type Auth struct {
	tokens    tokenReviewer
	access    accessReviewer
	realm     string
	anonymous *Caller
	// rationByAddress is Config.RationByAddress.
	rationByAddress bool
	log             logr.Logger
}

// New returns an Auth that reviews with cfg.Client.
func New(cfg Config) (*Auth, error) {
	if cfg.Client == nil {
		return nil, errors.New("httpauth: a Kubernetes client is required")
	}
	backoff := DefaultBackoff
	if cfg.Backoff != nil {
		backoff = *cfg.Backoff
	}
	timeout := orDefault(cfg.ReviewTimeout, DefaultReviewTimeout)
	size := cfg.TokenCacheSize
	if size <= 0 {
		size = DefaultTokenCacheSize
	}
	var clk cache.Clock = clock.RealClock{}
	if cfg.Clock != nil {
		clk = cfg.Clock
	}
	tokens, err := newCachedTokenReviewer(&apiTokenReviewer{
		client:    cfg.Client.AuthenticationV1().TokenReviews(),
		audiences: cfg.Audiences,
		backoff:   backoff,
		timeout:   timeout,
	}, size, orDefault(cfg.TokenSuccessTTL, DefaultTokenSuccessTTL), orDefault(cfg.TokenFailureTTL, DefaultTokenFailureTTL), clk)
	if err != nil {
		return nil, err
	}
	access := &apiAccessReviewer{
		client:   cfg.Client.AuthorizationV1().SubjectAccessReviews(),
		backoff:  backoff,
		timeout:  timeout,
		entries:  cache.NewLRUExpireCacheWithClock(accessCacheSize, clk),
		allowTTL: orDefault(cfg.AllowTTL, DefaultAllowTTL),
		denyTTL:  orDefault(cfg.DenyTTL, DefaultDenyTTL),
	}
	return newAuth(cfg, tokens, access)
}

// newAuth finishes an Auth from its reviewers; tests give it fakes.
func newAuth(cfg Config, tokens tokenReviewer, access accessReviewer) (*Auth, error) {
	realm := cfg.Realm
	if realm == "" {
		realm = DefaultRealm
	}
	if strings.ContainsFunc(realm, func(r rune) bool { return r == '"' || r == '\\' || r < ' ' || r == 0x7f }) {
		return nil, fmt.Errorf("httpauth: the realm %q holds a quote, a backslash or a control character", realm)
	}
	a := &Auth{tokens: tokens, access: access, realm: realm, log: cfg.Log, rationByAddress: cfg.RationByAddress}
	if an := cfg.Anonymous; an != nil {
		if errs := validation.IsDNS1123Label(an.Namespace); len(errs) > 0 {
			return nil, fmt.Errorf("httpauth: the anonymous namespace %q: %s", an.Namespace, strings.Join(errs, "; "))
		}
		sa := an.ServiceAccount
		if sa == "" {
			sa = DefaultAnonymousServiceAccount
		}
		if errs := validation.IsDNS1123Subdomain(sa); len(errs) > 0 {
			return nil, fmt.Errorf("httpauth: the anonymous service account %q: %s", sa, strings.Join(errs, "; "))
		}
		a.anonymous = &Caller{
			User:      serviceaccount.UserInfo(an.Namespace, sa, ""),
			Scheme:    SchemeAnonymous,
			Namespace: an.Namespace,
		}
	}
	return a, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Caller is who sent a request.
type Caller struct {
	// User is the authenticated user, or the anonymous ServiceAccount.
	User user.Info
	// Scheme is how the caller authenticated.
	Scheme Scheme
	// Namespace, when set, is the only namespace the caller may act in
	// (an anonymous caller's).
	Namespace string
}

// Anonymous reports whether the caller sent no credentials.
func (c *Caller) Anonymous() bool { return c.Scheme == SchemeAnonymous }

// Authenticate says who sent r: a *Caller, or an *UnauthorizedError (401) or
// an *UnavailableError (503).
func (a *Auth) Authenticate(r *http.Request) (*Caller, error) {
	creds, err := ParseAuthorization(r.Header.Get("Authorization"))
	switch {
	case errors.Is(err, ErrNoCredentials):
		if a.anonymous != nil {
			anonymous := *a.anonymous
			return &anonymous, nil
		}
		return nil, &UnauthorizedError{Reason: "The request has no credentials: send a Kubernetes token as `Authorization: Bearer <token>` or as the secret of Basic auth."}
	case err != nil:
		return nil, &UnauthorizedError{Reason: "Malformed Authorization header: " + err.Error() + ".", InvalidToken: true}
	}
	ctx := r.Context()
	if a.rationByAddress {
		ctx = withPeer(ctx, r)
	}
	c, err := a.AuthenticateToken(ctx, creds.Token, creds.Scheme)
	if err != nil {
		return nil, err
	}
	u := c.User
	if creds.Scheme == SchemeBasic && creds.Principal != "" && creds.Principal != u.GetName() {
		return nil, &UnauthorizedError{
			Reason:       fmt.Sprintf("The principal %q is not the user the token authenticates as, %q: send that or an empty principal.", Truncate(creds.Principal, 256), u.GetName()),
			InvalidToken: true,
		}
	}
	return &Caller{User: u, Scheme: creds.Scheme}, nil
}

// AuthenticateToken says whose token sent by scheme is, by TokenReview:
// a *Caller, or an *UnauthorizedError (401), or a *ThrottledError or an
// *UnavailableError (503). It is for tokens that come otherwise than in
// the Authorization header (SchemeCookie).
func (a *Auth) AuthenticateToken(ctx context.Context, token string, scheme Scheme) (*Caller, error) {
	if token == "" {
		return nil, &UnauthorizedError{Reason: "The token is empty."}
	}
	u, err := a.tokens.review(ctx, token)
	if errors.Is(err, errTooManyNewTokens) {
		return nil, &ThrottledError{}
	}
	if err != nil {
		if ctx.Err() == nil {
			a.log.Error(err, "Reviewing a token failed")
		}
		return nil, &UnavailableError{Review: "TokenReview", Err: err}
	}
	if u == nil {
		return nil, &UnauthorizedError{Reason: "The token is not accepted by the Kubernetes API server.", InvalidToken: true}
	}
	return &Caller{User: u, Scheme: scheme}, nil
}

// Authorize checks that caller may do what attrs say: nil, a
// *ForbiddenError (403) or an *UnavailableError (503).
func (a *Auth) Authorize(ctx context.Context, caller *Caller, attrs Attributes) error {
	if caller == nil || caller.User == nil {
		return &ForbiddenError{User: "an unauthenticated caller", Attributes: attrs}
	}
	if caller.Namespace != "" && attrs.Namespace != caller.Namespace {
		return &ForbiddenError{User: caller.User.GetName(), Attributes: attrs,
			Reason: fmt.Sprintf("an anonymous caller may only act in namespace %q", caller.Namespace)}
	}
	allowed, reason, err := a.access.review(ctx, caller.User, attrs)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			a.log.Error(err, "Reviewing access failed", "user", caller.User.GetName(), "attributes", attrs.String())
		}
		return &UnavailableError{Review: "SubjectAccessReview", Err: err}
	case !allowed:
		return &ForbiddenError{User: caller.User.GetName(), Attributes: attrs, Reason: reason}
	default:
		return nil
	}
}

// AuthorizeCall checks that caller may make the scheduler call named call
// (a Mesos Call.Type name, "SUBSCRIBE") for the framework named framework
// in namespace, by SchedulerCalls: nil, a *ForbiddenError (403) or an
// *UnavailableError (503). framework may be empty when it is not known
// yet. A call missing from the table is refused.
func (a *Auth) AuthorizeCall(ctx context.Context, caller *Caller, call, namespace, framework string) error {
	needs, ok := SchedulerCalls[call]
	if !ok {
		name := "an unauthenticated caller"
		if caller != nil && caller.User != nil {
			name = caller.User.GetName()
		}
		return &ForbiddenError{User: name, Attributes: Attributes{Verb: "call", Resource: Truncate(call, 64), Namespace: namespace},
			Reason: "no authorization rule for this call"}
	}
	for _, need := range needs {
		need.Namespace = namespace
		// As the API server does: a create or a list names no object.
		if need.Resource == "frameworks" && need.Verb != "create" && need.Verb != "list" {
			need.Name = framework
		}
		if err := a.Authorize(ctx, caller, need); err != nil {
			return err
		}
	}
	return nil
}

type callerKey struct{}

// WithCaller returns a copy of ctx that carries caller.
func WithCaller(ctx context.Context, caller *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, caller)
}

// CallerFrom returns the caller that Middleware put into ctx.
func CallerFrom(ctx context.Context) (*Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(*Caller)
	return c, ok && c != nil
}

// Middleware authenticates every request before next sees it, and puts the
// caller into its context (read it with CallerFrom). A request that fails
// is answered by WriteError and never reaches next.
func (a *Auth) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, err := a.Authenticate(r)
		if err != nil {
			a.WriteError(w, err)
			return
		}
		r = r.WithContext(WithCaller(r.Context(), caller))
		// The token has done its work: keep it out of the handlers' way
		// (and their logs).
		r.Header = r.Header.Clone()
		r.Header.Del("Authorization")
		next.ServeHTTP(w, r)
	})
}
