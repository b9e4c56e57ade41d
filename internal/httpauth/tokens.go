package httpauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"golang.org/x/sync/singleflight"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/user"
	authenticationclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
)

// tokenReviewer asks whether a token is valid. It returns the user when it
// is, nil and no error when it is not, and an error only when it could not
// find out.
type tokenReviewer interface {
	review(ctx context.Context, token string) (user.Info, error)
}

// apiTokenReviewer sends a TokenReview to the API server, retrying
// transient failures with backoff.
type apiTokenReviewer struct {
	client    authenticationclient.TokenReviewInterface
	audiences []string
	backoff   wait.Backoff
	timeout   time.Duration
}

func (r *apiTokenReviewer) review(ctx context.Context, token string) (user.Info, error) {
	if r.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	in := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: r.audiences}}
	var out *authenticationv1.TokenReview
	err := withRetry(ctx, r.backoff, func() error {
		var err error
		out, err = r.client.Create(ctx, in, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("creating a TokenReview: %w", err)
	}
	st := out.Status
	if !st.Authenticated {
		return nil, nil
	}
	// With audiences asked for, the API server answers with those the
	// token is for; a token for none of them is not accepted.
	if len(r.audiences) > 0 && !slices.ContainsFunc(st.Audiences, func(a string) bool { return slices.Contains(r.audiences, a) }) {
		return nil, nil
	}
	var extra map[string][]string
	if len(st.User.Extra) > 0 {
		extra = make(map[string][]string, len(st.User.Extra))
		for k, v := range st.User.Extra {
			extra[k] = v
		}
	}
	return &user.DefaultInfo{Name: st.User.Username, UID: st.User.UID, Groups: st.User.Groups, Extra: extra}, nil
}

// sharedReviewTimeout bounds one review shared by concurrent requests with
// the same token, which runs apart from any one request's context.
const sharedReviewTimeout = 30 * time.Second

// Tokens the cache has not seen are reviewed at most tokenReviewRate a
// second (bursts of tokenReviewBurst), each waiting at most
// tokenReviewQueueWait for its turn: callers with ever new junk tokens
// would otherwise make the master send the API server a TokenReview each.
// A token refused that way gets 503 and is retried by its caller.
const (
	tokenReviewRate      = 50
	tokenReviewBurst     = 100
	tokenReviewQueueWait = 2 * time.Second
)

// With Config.RationByAddress, one address (an IPv6 /64) gets its tokens
// that the cache has not seen reviewed at most peerReviewRate a second
// (bursts of peerReviewBurst); more get 503 with Retry-After at once,
// without a review or a wait (Mesos's scheduler library takes a 503
// calmly; any other refusal is an ERROR its frameworks abort on). A
// caller sending ever new junk tokens then takes at most that of the
// rate all share. A framework's token is reviewed once and kept for
// minutes; every framework reached through kubectl port-forward shares
// one address.
const (
	peerReviewRate  = 5
	peerReviewBurst = 20
	// maxPeers bounds the addresses whose ration is remembered, each for
	// peerMemory after its last new token.
	maxPeers   = 4096
	peerMemory = time.Minute
)

// errTooManyNewTokens is a review refused by its address's ration.
var errTooManyNewTokens = errors.New("too many new tokens from one address")

type peerKey struct{}

// withPeer returns a copy of ctx that carries r's source address (its
// /64 for IPv6, which one host may hold whole), by which the reviews of
// tokens the cache has not seen are rationed.
func withPeer(ctx context.Context, r *http.Request) context.Context {
	addr := r.RemoteAddr
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		a := ap.Addr().Unmap()
		addr = a.String()
		if a.Is6() {
			addr = netip.PrefixFrom(a, 64).Masked().String()
		}
	}
	return context.WithValue(ctx, peerKey{}, addr)
}

func peerFrom(ctx context.Context) string {
	p, _ := ctx.Value(peerKey{}).(string)
	return p
}

// cachedTokenReviewer keeps the answers of a tokenReviewer, accepted and
// refused, in an LRU cache bounded in size and time. Keys are an HMAC of
// the token with a random key, so that the cache holds no token. Concurrent
// reviews of one token share one request. Failures are not kept.
type cachedTokenReviewer struct {
	next       tokenReviewer
	entries    *cache.LRUExpireCache
	successTTL time.Duration
	failureTTL time.Duration
	hmacKey    []byte
	flights    singleflight.Group
	limiter    *rate.Limiter
	// peers holds each address's ration of reviews (*rate.Limiter).
	peers *cache.LRUExpireCache
	clock cache.Clock
	// peersMu makes taking an address's limiter from peers, or adding
	// one, a single step.
	peersMu sync.Mutex
}

// allowPeer takes one review from the ration of the address ctx carries;
// a context without one is not rationed.
func (c *cachedTokenReviewer) allowPeer(ctx context.Context) bool {
	peer := peerFrom(ctx)
	if peer == "" {
		return true
	}
	c.peersMu.Lock()
	defer c.peersMu.Unlock()
	var lim *rate.Limiter
	if v, ok := c.peers.Get(peer); ok {
		lim = v.(*rate.Limiter)
	} else {
		lim = rate.NewLimiter(peerReviewRate, peerReviewBurst)
	}
	c.peers.Add(peer, lim, peerMemory)
	return lim.AllowN(c.clock.Now(), 1)
}

// cachedReview is a cache entry: the user, or nil for a refused token.
type cachedReview struct{ user user.Info }

func newCachedTokenReviewer(next tokenReviewer, size int, successTTL, failureTTL time.Duration, clock cache.Clock) (*cachedTokenReviewer, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("making the token cache's key: %w", err)
	}
	return &cachedTokenReviewer{
		next:       next,
		entries:    cache.NewLRUExpireCacheWithClock(size, clock),
		successTTL: successTTL,
		failureTTL: failureTTL,
		hmacKey:    key,
		limiter:    rate.NewLimiter(tokenReviewRate, tokenReviewBurst),
		peers:      cache.NewLRUExpireCacheWithClock(maxPeers, clock),
		clock:      clock,
	}, nil
}

func (c *cachedTokenReviewer) key(token string) string {
	h := hmac.New(sha256.New, c.hmacKey)
	h.Write([]byte(token))
	return string(h.Sum(nil))
}

func (c *cachedTokenReviewer) review(ctx context.Context, token string) (user.Info, error) {
	key := c.key(token)
	if e, ok := c.entries.Get(key); ok {
		return e.(cachedReview).user, nil
	}
	if !c.allowPeer(ctx) {
		return nil, errTooManyNewTokens
	}
	ch := c.flights.DoChan(key, func() (any, error) {
		if e, ok := c.entries.Get(key); ok {
			return e, nil
		}
		// Shared by every request waiting on this token: one request
		// going away must not fail the others.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedReviewTimeout)
		defer cancel()
		wctx, wcancel := context.WithTimeout(rctx, tokenReviewQueueWait)
		err := c.limiter.Wait(wctx)
		wcancel()
		if err != nil {
			return nil, fmt.Errorf("too many new tokens to review at once: %w", err)
		}
		u, err := c.next.review(rctx, token)
		if err != nil {
			return nil, err
		}
		e := cachedReview{user: u}
		if u != nil {
			c.entries.Add(key, e, c.successTTL)
		} else {
			c.entries.Add(key, e, c.failureTTL)
		}
		return e, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(cachedReview).user, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a TokenReview: %w", ctx.Err())
	}
}
