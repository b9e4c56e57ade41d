package httpauth

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/cache"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/user"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
)

// accessReviewer asks whether a user may do what attributes say. It returns
// the answer and the authorizer's reason, and an error only when it could
// not find out.
type accessReviewer interface {
	review(ctx context.Context, u user.Info, attrs Attributes) (allowed bool, reason string, err error)
}

// accessCacheSize bounds the SubjectAccessReview answers kept, as the
// API server's own webhook authorizer bounds its cache.
const accessCacheSize = 8192

// apiAccessReviewer sends SubjectAccessReviews to the API server, retrying
// transient failures, and keeps the answers in an LRU cache bounded in size
// and time (allowTTL for allowed, denyTTL for refused). Failures are not
// kept.
type apiAccessReviewer struct {
	client   authorizationclient.SubjectAccessReviewInterface
	backoff  wait.Backoff
	timeout  time.Duration
	entries  *cache.LRUExpireCache
	allowTTL time.Duration
	denyTTL  time.Duration
}

func (r *apiAccessReviewer) review(ctx context.Context, u user.Info, attrs Attributes) (bool, string, error) {
	spec := authorizationv1.SubjectAccessReviewSpec{
		User:   u.GetName(),
		UID:    u.GetUID(),
		Groups: u.GetGroups(),
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace:   attrs.Namespace,
			Verb:        attrs.Verb,
			Group:       attrs.Group,
			Resource:    attrs.Resource,
			Subresource: attrs.Subresource,
			Name:        attrs.Name,
		},
	}
	if extra := u.GetExtra(); len(extra) > 0 {
		spec.Extra = make(map[string]authorizationv1.ExtraValue, len(extra))
		for k, v := range extra {
			spec.Extra[k] = v
		}
	}
	// The whole question is the key: no two questions share an answer.
	raw, err := json.Marshal(spec)
	if err != nil {
		return false, "", fmt.Errorf("encoding a SubjectAccessReview: %w", err)
	}
	key := string(raw)
	if e, ok := r.entries.Get(key); ok {
		st := e.(authorizationv1.SubjectAccessReviewStatus)
		return st.Allowed && !st.Denied, st.Reason, nil
	}
	if r.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	var out *authorizationv1.SubjectAccessReview
	err = withRetry(ctx, r.backoff, func() error {
		var err error
		out, err = r.client.Create(ctx, &authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return false, "", fmt.Errorf("creating a SubjectAccessReview: %w", err)
	}
	st := out.Status
	allowed := st.Allowed && !st.Denied
	ttl := r.denyTTL
	if allowed {
		ttl = r.allowTTL
	}
	r.entries.Add(key, st, ttl)
	return allowed, st.Reason, nil
}

// withRetry calls fn until it succeeds, fails for good, or backoff runs
// out, and returns its last error. Only what may pass is retried: a lost
// connection, a timeout, an overloaded or failing server.
func withRetry(ctx context.Context, backoff wait.Backoff, fn func() error) error {
	var last error
	err := wait.ExponentialBackoffWithContext(ctx, backoff, func(context.Context) (bool, error) {
		last = fn()
		switch {
		case last == nil:
			return true, nil
		case transient(last):
			return false, nil
		default:
			return false, last
		}
	})
	if last != nil {
		return last
	}
	return err
}

// transient reports whether a failed review may succeed if sent again.
func transient(err error) bool {
	if utilnet.IsConnectionReset(err) || utilnet.IsHTTP2ConnectionLost(err) || utilnet.IsProbableEOF(err) ||
		apierrors.IsInternalError(err) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsServiceUnavailable(err) {
		return true
	}
	_, delay := apierrors.SuggestsClientDelay(err)
	return delay
}
