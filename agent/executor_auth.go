package agent

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	utilcache "k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// AnnotationExecutorID records on each executor pod the executor it runs
// (a command task's pod: its task's name), in full: a label value is cut
// at 63 characters. The agent checks it against the pod's name, which
// derives from it, before it trusts it.
const AnnotationExecutorID = kmv1.AnnotationExecutorID

// How executor tokens are verified and remembered.
const (
	// maxTokenBytes bounds a bearer token; a pod's token is about 1 KiB.
	maxTokenBytes = 8 << 10
	// reviewCacheTTL bounds how long an accepted token is remembered (never
	// past its expiry); the pod behind it is checked on every call.
	reviewCacheTTL = time.Minute
	// reviewCacheSize bounds how many accepted tokens are remembered.
	reviewCacheSize = 4096
	// refusalCacheTTL and refusalCacheSize: a token that the API server
	// refused is refused again without asking it, for a while.
	refusalCacheTTL  = 10 * time.Second
	refusalCacheSize = 1024
	// reviewTimeout bounds one TokenReview.
	reviewTimeout = 10 * time.Second
	// reviewRate and reviewBurst bound the TokenReviews per second that
	// callers can make the agent send, whatever tokens they make up.
	reviewRate  = 20
	reviewBurst = 100
	// reviewQueueTimeout is how long a call waits for its turn to be
	// reviewed before it is told to retry (503).
	reviewQueueTimeout = 2 * time.Second
	// peerReviewRate and peerReviewBurst bound the TokenReviews that the
	// calls from one address (one pod) can make the agent send, so that a
	// pod sending made-up tokens spends its own share, not the reviews
	// that the node's executors need (each needs one a minute, and one
	// when the kubelet renews its token); peerLimiters bounds how many
	// addresses are remembered.
	peerReviewRate  = 2
	peerReviewBurst = 20
	peerLimiters    = 4096
)

// TokenReviewFunc asks the API server about a token, for the audience
// executorapi.TokenAudience; the agent creates a TokenReview.
type TokenReviewFunc func(ctx context.Context, token string) (authenticationv1.TokenReviewStatus, error)

// ClientTokenReview is a TokenReviewFunc that creates TokenReviews with c.
func ClientTokenReview(c client.Client) TokenReviewFunc {
	return func(ctx context.Context, token string) (authenticationv1.TokenReviewStatus, error) {
		tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{executorapi.TokenAudience}}}
		if err := c.Create(ctx, tr); err != nil {
			return authenticationv1.TokenReviewStatus{}, fmt.Errorf("creating a TokenReview: %w", err)
		}
		return tr.Status, nil
	}
}

// podIdentity is who a token speaks for, as the API server vouched.
type podIdentity struct {
	// Namespace, Name and UID are the pod's.
	Namespace, Name string
	UID             types.UID
	// Node is the node the pod was on when the token was issued; "" when
	// the API server does not put it into tokens.
	Node string
}

// reviewed is a remembered answer of the API server.
type reviewed struct {
	id  podIdentity
	err error
}

// tokenAuthenticator turns bearer tokens into pod identities with
// TokenReview: only tokens for executorapi.TokenAudience and bound to a pod
// pass. Answers are remembered by a hash of the token (never the token).
type tokenAuthenticator struct {
	review   TokenReviewFunc
	clock    clock.PassiveClock
	log      logr.Logger
	accepted *utilcache.LRUExpireCache
	refused  *utilcache.LRUExpireCache
	limiter  *rate.Limiter
	// peers holds a *rate.Limiter per calling address.
	peers *utilcache.LRUExpireCache
}

func newTokenAuthenticator(review TokenReviewFunc, clk clock.PassiveClock, log logr.Logger) *tokenAuthenticator {
	return &tokenAuthenticator{review: review, clock: clk, log: log,
		accepted: utilcache.NewLRUExpireCacheWithClock(reviewCacheSize, clk),
		refused:  utilcache.NewLRUExpireCacheWithClock(refusalCacheSize, clk),
		limiter:  rate.NewLimiter(reviewRate, reviewBurst),
		peers:    utilcache.NewLRUExpireCacheWithClock(peerLimiters, clk)}
}

// peerAllows takes one of peer's TokenReviews, if it has one left.
func (x *tokenAuthenticator) peerAllows(peer netip.Addr) bool {
	var l *rate.Limiter
	if v, ok := x.peers.Get(peer); ok {
		l = v.(*rate.Limiter)
	} else {
		l = rate.NewLimiter(peerReviewRate, peerReviewBurst)
		x.peers.Add(peer, l, 10*time.Minute)
	}
	return l.Allow()
}

func unauthorized(format string, args ...any) error {
	return &CallError{Status: http.StatusUnauthorized, Err: fmt.Errorf(format, args...)}
}

func forbidden(format string, args ...any) error {
	return &CallError{Status: http.StatusForbidden, Err: fmt.Errorf(format, args...)}
}

func unavailable(format string, args ...any) error {
	return &CallError{Status: http.StatusServiceUnavailable, Err: fmt.Errorf(format, args...)}
}

func tokenKey(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }

// forget drops what is remembered about a token.
func (x *tokenAuthenticator) forget(token string) {
	k := tokenKey(token)
	x.accepted.Remove(k)
	x.refused.Remove(k)
}

// identify returns the pod that token, sent from peer, is bound to. fresh
// asks the API server even when an answer is remembered. Errors are
// *CallErrors: 401 for a token that is not good, 503 when it cannot be
// checked now.
func (x *tokenAuthenticator) identify(ctx context.Context, token string, peer netip.Addr, fresh bool) (podIdentity, error) {
	if token == "" {
		return podIdentity{}, unauthorized("no executor token: send \"Authorization: Bearer <token>\" with the token in the file named by $%s", executorapi.EnvTokenFile)
	}
	if len(token) > maxTokenBytes {
		return podIdentity{}, unauthorized("the executor token has %d bytes; a service account token has far fewer", len(token))
	}
	k := tokenKey(token)
	if !fresh {
		if v, ok := x.accepted.Get(k); ok {
			return v.(reviewed).id, nil
		}
	}
	if v, ok := x.refused.Get(k); ok {
		return podIdentity{}, v.(reviewed).err
	}
	// What the token says of itself, unverified: it spares the API server
	// the tokens that could never pass, and bounds how long an accepted
	// one is remembered.
	c, err := parseClaims(token)
	if err != nil {
		return podIdentity{}, unauthorized("the executor token is not a service account token: %v", err)
	}
	now := x.clock.Now()
	if exp := time.Unix(c.Exp, 0); !now.Before(exp) {
		return podIdentity{}, unauthorized("the executor token expired at %s; read it again from $%s, which the kubelet renews", exp.UTC().Format(time.RFC3339), executorapi.EnvTokenFile)
	}
	if !slices.Contains(c.Aud, executorapi.TokenAudience) {
		return podIdentity{}, unauthorized("the executor token is for %q, not %q: use the token the agent mounts into executor pods ($%s)", c.Aud, executorapi.TokenAudience, executorapi.EnvTokenFile)
	}
	if c.Kubernetes.Pod == nil {
		return podIdentity{}, unauthorized("the executor token is not bound to a pod")
	}
	if !x.peerAllows(peer) {
		return podIdentity{}, unavailable("calls from %s made the agent verify too many executor tokens; retry", peer)
	}
	wctx, cancel := context.WithTimeout(ctx, reviewQueueTimeout)
	err = x.limiter.Wait(wctx)
	cancel()
	if err != nil {
		return podIdentity{}, unavailable("the agent is verifying too many tokens; retry")
	}
	rctx, cancel := context.WithTimeout(ctx, reviewTimeout)
	defer cancel()
	st, err := x.review(rctx, token)
	if err != nil {
		x.log.Error(err, "reviewing an executor token")
		return podIdentity{}, unavailable("the agent could not verify the executor token with the API server; retry")
	}
	id, err := identityOf(st)
	if err != nil {
		x.refused.Add(k, reviewed{err: err}, refusalCacheTTL)
		return podIdentity{}, err
	}
	ttl := min(reviewCacheTTL, time.Unix(c.Exp, 0).Sub(now))
	x.accepted.Add(k, reviewed{id: id}, ttl)
	return id, nil
}

// identityOf reads the pod out of a TokenReview's answer.
func identityOf(st authenticationv1.TokenReviewStatus) (podIdentity, error) {
	if !st.Authenticated {
		why := st.Error
		if why == "" {
			why = "not authenticated"
		}
		return podIdentity{}, unauthorized("the API server refused the executor token: %s", why)
	}
	if !slices.Contains(st.Audiences, executorapi.TokenAudience) {
		return podIdentity{}, unauthorized("the API server did not accept the executor token for %q", executorapi.TokenAudience)
	}
	ns, _, err := serviceaccount.SplitUsername(st.User.Username)
	if err != nil {
		return podIdentity{}, unauthorized("the executor token is not a service account's (user %q)", st.User.Username)
	}
	one := func(key string) string {
		if v := st.User.Extra[key]; len(v) == 1 {
			return v[0]
		}
		return ""
	}
	id := podIdentity{Namespace: ns, Name: one(serviceaccount.PodNameKey), UID: types.UID(one(serviceaccount.PodUIDKey)), Node: one(serviceaccount.NodeNameKey)}
	if id.Name == "" || id.UID == "" {
		return podIdentity{}, unauthorized("the executor token is not bound to a pod")
	}
	return id, nil
}

// claims are the parts of a service account token's payload that the
// agent reads before the API server verified it.
type claims struct {
	Aud        audiences `json:"aud"`
	Exp        int64     `json:"exp"`
	Kubernetes struct {
		Pod *struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"pod"`
	} `json:"kubernetes.io"`
}

// audiences is a JWT "aud": one string or a list.
type audiences []string

// UnmarshalJSON reads one audience or a list; null is none.
func (a *audiences) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*a = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audiences{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("aud is neither a string nor a list of strings: %w", err)
	}
	*a = many
	return nil
}

// parseClaims decodes a JWT's payload without verifying it.
func parseClaims(token string) (claims, error) {
	var c claims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, errors.New("not a JWT (three base64url parts joined by dots)")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return c, fmt.Errorf("the payload is not base64url: %w", err)
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("the payload is not JSON claims: %w", err)
	}
	if c.Exp == 0 {
		return c, errors.New("the token has no expiry")
	}
	return c, nil
}

// executorAuthenticator tells which executor a call comes from: a token's
// pod (as the API server vouches for it) must be an executor pod that this
// agent launched on its node under its current agentID. A call without
// credentials is taken, in the namespaces of anonymous only, from the pod
// whose address it comes from (see authenticateAnonymous).
type executorAuthenticator struct {
	tokens *tokenAuthenticator
	// pods reads the node's pods and Tasks from the agent's cache.
	pods client.Reader
	node string
	id   *identity
	// anonymous are the namespaces whose executors may call without
	// credentials (--executor-api-anonymous-namespaces); empty: none.
	anonymous sets.Set[string]
	log       logr.Logger
	// admitted remembers the executor pods (by UID) whose calls without
	// credentials were logged at Info, so that each is logged once there.
	admitted *utilcache.LRUExpireCache
}

// Flag and message of the opt-in for executors that send no credentials.
const (
	// FlagAnonymousNamespaces is the agent's flag of the opt-in.
	FlagAnonymousNamespaces = "--executor-api-anonymous-namespaces"
	// anonymousLogTTL bounds how long an executor pod admitted without
	// credentials stays remembered as logged.
	anonymousLogTTL = time.Hour
)

// noToken says what a caller without credentials can do.
func noToken(why string) error {
	return unauthorized("%s: send \"Authorization: Bearer <token>\" with the token in the file named by $%s, or, for an executor that cannot send one, have the agent opt its namespace in (%s)",
		why, executorapi.EnvTokenFile, FlagAnonymousNamespaces)
}

// errStalePod: the agent's record of a token's pod is not the pod the
// token was issued to (it is gone, or another pod took its name), or not
// yet there.
var errStalePod = errors.New("the pod is not the one the token was issued to")

// Authenticate tells which executor a call comes from, before its body is
// read. A call with an Authorization header must carry a bearer token: a
// service account token for executorapi.TokenAudience that the API server
// accepts (TokenReview), bound to a pod that this agent launched on its
// node under its current agentID and that is, by the agent's own record,
// still the pod of that executor. A call without one is taken only as
// authenticateAnonymous allows. Errors are *CallErrors (401, 403, 503).
func (x *executorAuthenticator) Authenticate(ctx context.Context, c Credentials) (ExecutorKey, error) {
	if c.Authorization == "" {
		return x.authenticateAnonymous(ctx, c.Peer)
	}
	token := c.BearerToken()
	if token == "" {
		return ExecutorKey{}, unauthorized("the executor API takes \"Authorization: Bearer <token>\", with the token in the file named by $%s; no other scheme", executorapi.EnvTokenFile)
	}
	id, err := x.tokens.identify(ctx, token, c.Peer, false)
	if err != nil {
		return ExecutorKey{}, err
	}
	k, err := x.executorOfPod(ctx, id)
	if !errors.Is(err, errStalePod) {
		return k, err
	}
	// The remembered answer is about a pod that the agent no longer
	// holds: ask the API server again, which refuses a token whose pod
	// is gone or replaced.
	x.tokens.forget(token)
	if id, err = x.tokens.identify(ctx, token, c.Peer, true); err != nil {
		return ExecutorKey{}, err
	}
	k, err = x.executorOfPod(ctx, id)
	if errors.Is(err, errStalePod) {
		// The API server knows the pod; the agent's cache has not caught up.
		return ExecutorKey{}, unavailable("the agent has not seen pod %s/%s yet; retry", id.Namespace, id.Name)
	}
	return k, err
}

// authenticateAnonymous tells which executor a call without credentials
// comes from: the executor of the running executor pod of this node whose
// address is the call's peer address, if its namespace is opted in. The
// pod is trusted on its address alone: executor pods never share the
// node's network (the agent's admission policy refuses hostNetwork), and
// their calls reach the agent from their own address. The call must then
// name that executor, as a call with a token must name its pod's.
func (x *executorAuthenticator) authenticateAnonymous(ctx context.Context, peer netip.Addr) (ExecutorKey, error) {
	if x.anonymous.Len() == 0 {
		return ExecutorKey{}, noToken("no executor token, and this agent takes no calls without one")
	}
	if !peer.IsValid() {
		return ExecutorKey{}, noToken("no executor token, and the call's address cannot be read")
	}
	var pods corev1.PodList
	if err := x.pods.List(ctx, &pods, client.MatchingFields{indexPodNode: x.node}); err != nil {
		return ExecutorKey{}, fmt.Errorf("listing the pods of node %s: %w", x.node, err)
	}
	// An address is taken as a pod's only while the pod surely holds it:
	// running, not being deleted, every container running. A pod that is
	// ending may have given its address back already, to a pod of any
	// namespace whose address the agent has not seen yet; so while any pod
	// of the node has no address, no call without credentials is taken.
	var match []*corev1.Pod
	unaddressed := false
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Spec.HostNetwork || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		switch {
		case p.Status.PodIP == "":
			unaddressed = true
		case hasAddr(p, peer) && holdsAddress(p):
			match = append(match, p)
		}
	}
	switch {
	case len(match) > 1:
		return ExecutorKey{}, unavailable("the agent sees %d running pods with address %s; retry", len(match), peer)
	case unaddressed:
		// The caller may be an executor whose address the agent has not
		// seen yet (the kubelet reports it after the pod starts), or a pod
		// that now has an ending pod's address.
		return ExecutorKey{}, unavailable("no executor token, and a pod of node %s has no address the agent has seen yet; retry, or send the token", x.node)
	case len(match) == 0:
		return ExecutorKey{}, noToken(fmt.Sprintf("no executor token, and %s is not the address of a running executor pod of node %s", peer, x.node))
	}
	pod := match[0]
	if !x.anonymous.Has(pod.Namespace) {
		return ExecutorKey{}, noToken(fmt.Sprintf("no executor token, and namespace %s is not among those whose executors may call without one", pod.Namespace))
	}
	k, err := x.executorOfPod(ctx, podIdentity{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID})
	switch {
	case errors.Is(err, errStalePod):
		return ExecutorKey{}, unavailable("pod %s/%s changed while the agent looked at it; retry", pod.Namespace, pod.Name)
	case err != nil:
		var refused *CallError
		if errors.As(err, &refused) && refused.Status == http.StatusForbidden {
			// Not an executor of this agent: the caller is no one it knows.
			return ExecutorKey{}, noToken(fmt.Sprintf("no executor token, and %s is not the address of an executor of this agent (%v)", peer, err))
		}
		return ExecutorKey{}, err
	}
	log := x.log.V(2)
	if _, seen := x.admitted.Get(pod.UID); !seen {
		x.admitted.Add(pod.UID, struct{}{}, anonymousLogTTL)
		log = x.log
	}
	log.Info("accepting executor calls without credentials from the executor pod's address", "executor", k.String(),
		"pod", klog.KObj(pod), "podUID", pod.UID, "peer", peer.String())
	return k, nil
}

// holdsAddress reports whether p surely still holds its address: it runs,
// is not being deleted, and every container of it runs.
func holdsAddress(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) == 0 {
		return false
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Running == nil {
			return false
		}
	}
	return true
}

// hasAddr reports whether addr is one of p's addresses.
func hasAddr(p *corev1.Pod, addr netip.Addr) bool {
	is := func(ip string) bool {
		a, err := netip.ParseAddr(ip)
		return err == nil && a.Unmap() == addr
	}
	if is(p.Status.PodIP) {
		return true
	}
	return slices.ContainsFunc(p.Status.PodIPs, func(ip corev1.PodIP) bool { return is(ip.IP) })
}

// executorOfPod returns the executor whose pod id is, by the agent's own
// record (its cache of its node's pods and tasks).
func (x *executorAuthenticator) executorOfPod(ctx context.Context, id podIdentity) (ExecutorKey, error) {
	node := x.node
	if id.Node != "" && id.Node != node {
		return ExecutorKey{}, forbidden("the token is of pod %s/%s on node %s; this agent serves node %s", id.Namespace, id.Name, id.Node, node)
	}
	var pod corev1.Pod
	if err := x.pods.Get(ctx, types.NamespacedName{Namespace: id.Namespace, Name: id.Name}, &pod); apierrors.IsNotFound(err) {
		return ExecutorKey{}, errStalePod
	} else if err != nil {
		return ExecutorKey{}, fmt.Errorf("reading pod %s/%s: %w", id.Namespace, id.Name, err)
	}
	if pod.UID != id.UID {
		return ExecutorKey{}, errStalePod
	}
	agentID := x.id.get()
	execID, fw := pod.Annotations[AnnotationExecutorID], pod.Labels[kmv1.LabelFramework]
	if pod.Spec.NodeName != node || pod.Labels[kmv1.LabelAgent] != node || pod.Labels[kmv1.LabelComponent] != "executor" || execID == "" || fw == "" {
		return ExecutorKey{}, forbidden("pod %s/%s is not an executor pod of the agent of node %s", pod.Namespace, pod.Name, node)
	}
	if got := pod.Annotations[AnnotationAgentID]; got != agentID {
		return ExecutorKey{}, forbidden("pod %s/%s was launched under agentID %q; this agent runs as %q", pod.Namespace, pod.Name, got, agentID)
	}
	k := ExecutorKey{Namespace: pod.Namespace, Framework: fw, ExecutorID: execID}
	want := executorPodName(k, agentID)
	if _, command := pod.Labels[kmv1.LabelTask]; command {
		var t kmv1.Task
		if err := x.pods.Get(ctx, types.NamespacedName{Namespace: k.Namespace, Name: execID}, &t); err != nil {
			if apierrors.IsNotFound(err) {
				return ExecutorKey{}, forbidden("pod %s/%s: its task %s is gone", pod.Namespace, pod.Name, execID)
			}
			return ExecutorKey{}, fmt.Errorf("reading task %s/%s: %w", k.Namespace, execID, err)
		}
		if t.Spec.Command == nil || string(t.Spec.Framework) != fw {
			return ExecutorKey{}, forbidden("pod %s/%s is not the pod of task %s", pod.Namespace, pod.Name, execID)
		}
		want = commandPodName(&t)
	}
	if pod.Name != want {
		return ExecutorKey{}, forbidden("pod %s/%s is not the pod of executor %s", pod.Namespace, pod.Name, k)
	}
	return k, nil
}
