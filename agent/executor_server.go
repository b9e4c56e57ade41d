package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	utilcache "k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/utils/clock"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/connlimit"
	"github.com/kubemesos/kubemesos/internal/metrics"
)

// ExecutorKey names an executor on this agent.
type ExecutorKey = kmv1.ExecutorRef

// ExecutorHooks is what the executor API asks of the rest of the agent.
// Each hook runs under a context that ends when the server's does (the one
// Serve was given): the call's own, or for Unsubscribed, whose call has
// ended, the server's.
type ExecutorHooks interface {
	// AgentID is the agent's current agentID, "" before admission.
	AgentID() string
	// Authenticate tells which executor a call comes from, from what it
	// tells of its caller before its body is read. A *CallError carries
	// the answer's status (401, 403, 503); any other error is answered
	// 500.
	Authenticate(ctx context.Context, c Credentials) (ExecutorKey, error)
	// Subscribed is told that an executor (re)subscribed, once the
	// unacknowledged updates of its SUBSCRIBE were taken with Update.
	Subscribed(ctx context.Context, k ExecutorKey, s *executorapi.Subscribe)
	// Unsubscribed is told that an executor's stream ended (it did not
	// subscribe anew): its tasks start waiting for it to come back.
	Unsubscribed(ctx context.Context, k ExecutorKey)
	// Update takes a task status from an executor. A *CallError is the
	// executor's fault and answered with its 4xx status; any other error
	// is the agent's own (a checkpoint that cannot be written) and is
	// answered 500, so that the executor keeps the update and retries.
	Update(ctx context.Context, k ExecutorKey, s executorapi.TaskStatus) error
	// Message stores a message from an executor to its scheduler before
	// the call is answered; errors are answered as Update's are.
	Message(ctx context.Context, k ExecutorKey, m executorapi.Message) error
	// AcknowledgeMessages takes an executor's word that it has the
	// scheduler messages named; errors are answered as Update's are.
	AcknowledgeMessages(ctx context.Context, k ExecutorKey, ids []executorapi.MessageID) error
	// MesosIdentity is what the Mesos form of the API tells executor k
	// of its framework and agent; an error is answered 503.
	MesosIdentity(ctx context.Context, k ExecutorKey) (MesosIdentity, error)
	// Task reads a Task of the agent's node from its cache: nil when
	// there is none of that name.
	Task(ctx context.Context, namespace, name string) (*kmv1.Task, error)
}

// Credentials are what the executor API knows of a call's caller before it
// reads the call's body.
type Credentials struct {
	// Authorization is the call's Authorization header; "" when it has
	// none.
	Authorization string
	// Peer is the address the call came from (its TCP peer's, an IPv4
	// address unmapped); the zero Addr when it cannot be read.
	Peer netip.Addr
}

// BearerToken is the token of a Bearer Authorization; "" for another
// scheme, or none.
func (c Credentials) BearerToken() string {
	token, ok := strings.CutPrefix(c.Authorization, "Bearer ")
	if !ok {
		return ""
	}
	return token
}

// credentialsOf reads the Credentials of a call.
func credentialsOf(r *http.Request) Credentials {
	c := Credentials{Authorization: r.Header.Get("Authorization")}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		c.Peer = ap.Addr().Unmap()
	}
	return c
}

// ServerLimits bound what the executor API takes from its callers, so that
// no caller (a pod on the node, authenticated or not) can exhaust the
// agent's memory or connections, or hold up other executors' calls.
type ServerLimits struct {
	// ReadHeaderTimeout bounds reading a call's headers (slow clients),
	// from the call's first bytes. A connection that carries no call, new
	// or kept alive, is not closed for it: Mesos's executor library opens
	// its connection for calls when it connects, may send its first call
	// much later, and takes the connection's closing for the agent's loss
	// (src/executor/executor.cpp). Such a connection gives its place up
	// only to a new one, when the agent holds MaxConnections, and only if
	// its address holds the most (connlimit).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole call, headers and body, from its
	// first byte.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one answer, or one event of a
	// SUBSCRIBE stream; a stream as a whole lasts as long as its executor
	// reads it.
	WriteTimeout time.Duration
	// MaxHeaderBytes bounds a call's headers.
	MaxHeaderBytes int
	// MaxConnections bounds the open connections. A connection beyond it
	// takes the place of the connection quiet the longest of the address
	// holding the most, or, when every connection carries a call, is
	// closed at once.
	MaxConnections int
	// MaxConnectionsPerIP bounds the open connections from one address
	// (one pod); more are closed at once.
	MaxConnectionsPerIP int
	// MaxConcurrentCalls bounds the calls whose bodies are read and
	// handled at once, and so the memory they take (a body is at most
	// executorapi.MaxCallBytes, holding at most mesoswire.MaxCallElements
	// objects and lists); more wait up to CallQueueTimeout, then get a 503.
	MaxConcurrentCalls int
	// CallQueueTimeout is how long a call waits for its turn.
	CallQueueTimeout time.Duration
	// MaxCallsPerExecutor bounds one executor's calls in flight (a
	// SUBSCRIBE stream counts until its events start); more get a 429.
	MaxCallsPerExecutor int
	// MessageRate and MessageBurst bound one executor's MESSAGE calls per
	// second (each becomes an Event in the API server); more get a 429.
	MessageRate  float64
	MessageBurst int
	// MesosHeartbeatInterval is how often a stream in the Mesos form gets
	// a HEARTBEAT event (Mesos: 30 minutes).
	MesosHeartbeatInterval time.Duration
}

// DefaultServerLimits are the executor API's limits in production.
func DefaultServerLimits() ServerLimits {
	return ServerLimits{
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 10 * time.Second,
		MaxHeaderBytes: 32 << 10, MaxConnections: 1024, MaxConnectionsPerIP: 32,
		MaxConcurrentCalls: 32, CallQueueTimeout: 5 * time.Second, MaxCallsPerExecutor: 8,
		MessageRate: 10, MessageBurst: 50, MesosHeartbeatInterval: 30 * time.Minute,
	}
}

// withDefaults fills l's zero (or negative) fields from d.
func withDefaults(l, d ServerLimits) ServerLimits {
	durations := []struct{ v, d *time.Duration }{
		{&l.ReadHeaderTimeout, &d.ReadHeaderTimeout}, {&l.ReadTimeout, &d.ReadTimeout}, {&l.WriteTimeout, &d.WriteTimeout},
		{&l.CallQueueTimeout, &d.CallQueueTimeout}, {&l.MesosHeartbeatInterval, &d.MesosHeartbeatInterval},
	}
	for _, f := range durations {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	ints := []struct{ v, d *int }{
		{&l.MaxHeaderBytes, &d.MaxHeaderBytes}, {&l.MaxConnections, &d.MaxConnections}, {&l.MaxConnectionsPerIP, &d.MaxConnectionsPerIP},
		{&l.MaxConcurrentCalls, &d.MaxConcurrentCalls}, {&l.MaxCallsPerExecutor, &d.MaxCallsPerExecutor}, {&l.MessageBurst, &d.MessageBurst},
	}
	for _, f := range ints {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	if l.MessageRate <= 0 {
		l.MessageRate = d.MessageRate
	}
	return l
}

// ExecutorServer serves the executor API and streams events to the
// subscribed executors.
type ExecutorServer struct {
	Hooks ExecutorHooks
	Log   logr.Logger
	// Limits are the server's limits; a field that is not positive takes
	// its value from DefaultServerLimits().
	Limits ServerLimits

	// Clock stamps the end of each subscription.
	Clock clock.PassiveClock
	// RememberEnds is how long the end of an executor's subscription is
	// remembered (UnsubscribedSince); 0 remembers it for as long as the
	// agent runs. The agent remembers twice its executor registration
	// timeout: past that, the end no longer moves any deadline (a task
	// staged later on that executor's pod fails at once either way, as an
	// executor that did not subscribe rather than one that did not
	// subscribe again).
	RememberEnds time.Duration

	initOnce sync.Once
	limits   ServerLimits
	calls    chan struct{}             // a slot per call being read and handled
	messages *utilcache.LRUExpireCache // ExecutorKey -> *rate.Limiter of its MESSAGE calls

	mu sync.Mutex
	// base is the context Serve was given: the hooks that outlive their
	// call run under it.
	base     context.Context
	lastGen  uint64 // numbers the subscriptions
	subs     map[ExecutorKey]*subscription
	gone     subscriptionEnds
	inFlight map[ExecutorKey]int // calls in flight, by executor
}

func (s *ExecutorServer) init() {
	s.initOnce.Do(func() {
		s.limits = withDefaults(s.Limits, DefaultServerLimits())
		s.calls = make(chan struct{}, s.limits.MaxConcurrentCalls)
		s.messages = utilcache.NewLRUExpireCache(4096)
	})
}

// Serve serves the executor API on ln, within the server's limits, until
// ctx ends.
func (s *ExecutorServer) Serve(ctx context.Context, ln net.Listener) error {
	s.init()
	s.mu.Lock()
	s.base = ctx
	s.mu.Unlock()
	l := s.limits
	// The timeouts start with a call's first byte, and quiet connections
	// never keep a call out (connlimit).
	cl := connlimit.Listen(ln, connlimit.Limits{Max: l.MaxConnections, MaxPerAddress: l.MaxConnectionsPerIP}, s.Log)
	ln = cl
	srv := &http.Server{
		ConnState:         cl.ConnState,
		Handler:           s,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		// No idle timeout (see ReadHeaderTimeout): a kept-alive
		// connection's timeouts start with its next call's first bytes.
		IdleTimeout:    -1,
		MaxHeaderBytes: l.MaxHeaderBytes,
		// Streams end with the agent.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = srv.Close()
	}()
	err := srv.Serve(ln)
	<-stopped
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving the executor API: %w", err)
	}
	return nil
}

type subscription struct {
	gen uint64
	// mesos is whether the executor speaks the Mesos form.
	mesos  bool
	events chan executorapi.Event
	closed chan struct{}
	once   sync.Once
}

func (s *subscription) close() { s.once.Do(func() { close(s.closed) }) }

// Send queues an event for a subscribed executor. It reports false when the
// executor is not subscribed or its queue is full (it will catch up on
// resubscription).
func (s *ExecutorServer) Send(k ExecutorKey, e executorapi.Event) bool {
	s.mu.Lock()
	sub := s.subs[k]
	s.mu.Unlock()
	return s.sendTo(k, sub, e)
}

// Subscription returns a number that names executor k's current
// subscription: it changes whenever k subscribes again.
func (s *ExecutorServer) Subscription(k ExecutorKey) (gen uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub := s.subs[k]; sub != nil {
		return sub.gen, true
	}
	return 0, false
}

// MesosSubscription is Subscription, and whether that subscription speaks
// the Mesos form of the API.
func (s *ExecutorServer) MesosSubscription(k ExecutorKey) (gen uint64, mesos, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub := s.subs[k]; sub != nil {
		return sub.gen, sub.mesos, true
	}
	return 0, false, false
}

// SendOn queues an event for executor k on its subscription gen only. It
// reports false when k holds another subscription or none, or when the
// subscription's queue is full (it is then dropped, and the executor
// subscribes again).
func (s *ExecutorServer) SendOn(k ExecutorKey, gen uint64, e executorapi.Event) bool {
	s.mu.Lock()
	sub := s.subs[k]
	s.mu.Unlock()
	if sub == nil || sub.gen != gen {
		return false
	}
	return s.sendTo(k, sub, e)
}

func (s *ExecutorServer) sendTo(k ExecutorKey, sub *subscription, e executorapi.Event) bool {
	if sub == nil {
		return false
	}
	select {
	case sub.events <- e:
		return true
	case <-sub.closed:
		return false
	default:
		s.Log.Info("executor event queue full; dropping the subscription", "executor", k.String())
		sub.close()
		return false
	}
}

// Subscribed reports whether an executor holds a subscription.
func (s *ExecutorServer) Subscribed(k ExecutorKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subs[k] != nil
}

// UnsubscribedSince returns when an executor's last subscription ended, if
// it had one since the agent started and holds none now.
func (s *ExecutorServer) UnsubscribedSince(k ExecutorKey) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.gone.since(k)
	return at, ok && s.subs[k] == nil
}

// Disconnect ends an executor's subscription, for example after SHUTDOWN.
func (s *ExecutorServer) Disconnect(k ExecutorKey) {
	s.mu.Lock()
	sub := s.subs[k]
	delete(s.subs, k)
	metrics.SubscribedExecutors.Set(float64(len(s.subs)))
	s.mu.Unlock()
	if sub != nil {
		sub.close()
	}
}

// CallError is an executor API error that is not the agent's own failure:
// the caller's fault (a 4xx), or a "retry later" (429, 503).
type CallError struct {
	// Status is the HTTP status of the answer.
	Status int
	// Err says what is wrong.
	Err error
}

func (e *CallError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *CallError) Unwrap() error { return e.Err }

// badCall is a 400 CallError.
func badCall(format string, args ...any) error {
	return &CallError{Status: http.StatusBadRequest, Err: fmt.Errorf(format, args...)}
}

func httpError(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(code)
	fmt.Fprintf(w, format+"\n", args...)
}

// ServeHTTP handles POST /api/v1/executor (and /slave(1)/api/v1/executor).
func (s *ExecutorServer) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	s.init()
	rec := newCallRecorder(rw)
	defer rec.finish()
	var w http.ResponseWriter = rec
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(s.limits.WriteTimeout))
	// The answer gets the whole write timeout from when it is written, not
	// from when the call came: authentication, a wait for a turn and the
	// body's arrival may take most of it, and an answer cut short loses
	// the caller a 202 (an update checkpointed) or a 503's Retry-After.
	rec.answering = func() { _ = rc.SetWriteDeadline(time.Now().Add(s.limits.WriteTimeout)) }
	if r.URL.Path != executorapi.Path && r.URL.Path != executorapi.MesosAgentPath {
		httpError(w, http.StatusNotFound, "no such endpoint; the executor API is POST %s", executorapi.Path)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpError(w, http.StatusMethodNotAllowed, "the executor API takes POST, not %s", r.Method)
		return
	}
	agentID := s.Hooks.AgentID()
	if agentID == "" {
		refuseUnread(w, http.StatusServiceUnavailable, "the agent is not admitted yet; retry")
		return
	}
	// Who calls is known from the headers and the peer's address alone:
	// nothing of an unauthenticated caller's body is read.
	key, err := s.Hooks.Authenticate(r.Context(), credentialsOf(r))
	if err != nil {
		w.Header().Set("Connection", "close")
		s.callFailed(w, false, err, "authenticating an executor call", "")
		return
	}
	release, err := s.admit(r.Context(), key)
	if err != nil {
		w.Header().Set("Connection", "close")
		s.callFailed(w, false, err, "admitting an executor call", key.String())
		return
	}
	defer release()
	if r.ContentLength > executorapi.MaxCallBytes {
		refuseUnread(w, http.StatusRequestEntityTooLarge, "the call is larger than %d bytes", executorapi.MaxCallBytes)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, executorapi.MaxCallBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			refuseUnread(w, http.StatusRequestEntityTooLarge, "the call is larger than %d bytes", executorapi.MaxCallBytes)
			return
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			// Not the call's fault: send it again, faster.
			refuseUnread(w, http.StatusRequestTimeout, "the call took longer than %s to arrive; send it again", s.limits.ReadTimeout)
			return
		}
		refuseUnread(w, http.StatusBadRequest, "reading the call: %v", err)
		return
	}
	mesos, codec, herr := executorapi.IsMesosCall(r.Header.Get("Content-Type"), body)
	if herr != nil {
		herr.Write(w)
		return
	}
	var call *executorapi.Call
	var out *mesosStream
	if mesos {
		mc, herr := s.parseMesosCall(r, codec, body, key)
		if herr != nil {
			s.Log.V(1).Info("refusing a Mesos executor call", "executor", key.String(), "status", herr.Code, "reason", herr.Msg)
			herr.Write(w)
			return
		}
		if mc.call == nil { // HEARTBEAT
			rec.typ = "HEARTBEAT"
			w.WriteHeader(http.StatusAccepted)
			return
		}
		call = mc.call
		rec.typ = string(call.Type)
		out = &mesosStream{server: s, key: key, agentID: agentID, id: mc.id, codec: mc.out}
	} else {
		var err error
		if call, err = executorapi.ParseCall(body); err != nil {
			httpError(w, http.StatusBadRequest, "%v", err)
			return
		}
		rec.typ = string(call.Type)
		if named := (ExecutorKey{Namespace: call.Namespace, Framework: call.Framework, ExecutorID: call.ExecutorID}); named != key {
			httpError(w, http.StatusForbidden, "the token is executor %s's; the call names executor %s", key, named)
			return
		}
	}
	switch call.Type {
	case executorapi.CallSubscribe:
		s.subscribe(w, r, rc, key, agentID, call, out, release)
	case executorapi.CallUpdate:
		if err := s.Hooks.Update(r.Context(), key, call.Update.Status); err != nil {
			code := s.callFailed(w, mesos, err, "taking a status update", key.String(), "task", call.Update.Status.TaskID)
			if mesos && code == http.StatusServiceUnavailable {
				// Mesos's executor library drops an update answered 503
				// and sends it again only with its next SUBSCRIBE, which
				// follows a lost connection: end the stream, so that it
				// connects again (its pod sets MESOS_CHECKPOINT) and
				// resubscribes with the update, rather than wait for an
				// acknowledgement that cannot come.
				s.Log.Info("ending the stream of a Mesos executor whose update was answered 503, so that it subscribes again with it",
					"executor", key.String(), "task", call.Update.Status.TaskID)
				s.Disconnect(key)
			}
			return
		}
		w.WriteHeader(http.StatusAccepted)
	case executorapi.CallMessage:
		if !s.messageLimiter(key).Allow() {
			s.callFailed(w, mesos, &CallError{Status: http.StatusTooManyRequests,
				Err: fmt.Errorf("executor %s sends more than %g messages a second; send this one again later", key, s.limits.MessageRate)},
				"storing a framework message", key.String())
			return
		}
		if err := s.Hooks.Message(r.Context(), key, *call.Message); err != nil {
			s.callFailed(w, mesos, err, "storing a framework message", key.String(), "sequence", call.Message.Sequence)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	case executorapi.CallAcknowledgeMessages:
		if err := s.Hooks.AcknowledgeMessages(r.Context(), key, call.AcknowledgeMessages.Messages); err != nil {
			s.callFailed(w, mesos, err, "taking message acknowledgements", key.String())
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}
}

// refuseUnread answers a call whose body was not read, and closes the
// connection rather than read what is left of it.
func refuseUnread(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Connection", "close")
	httpError(w, code, format, args...)
}

// admit takes a slot for one call of executor k: one of its own (a 429
// when it has too many calls in flight) and one of the server's (a 503
// when none frees up in time). release gives both back; it may be called
// more than once.
func (s *ExecutorServer) admit(ctx context.Context, k ExecutorKey) (release func(), err error) {
	s.mu.Lock()
	if s.inFlight == nil {
		s.inFlight = map[ExecutorKey]int{}
	}
	if n := s.inFlight[k]; n >= s.limits.MaxCallsPerExecutor {
		s.mu.Unlock()
		return nil, &CallError{Status: http.StatusTooManyRequests, Err: fmt.Errorf("executor %s has %d calls in flight; send this one again later", k, n)}
	}
	s.inFlight[k]++
	s.mu.Unlock()
	done := func() {
		s.mu.Lock()
		if s.inFlight[k]--; s.inFlight[k] <= 0 {
			delete(s.inFlight, k)
		}
		s.mu.Unlock()
	}
	wait := time.NewTimer(s.limits.CallQueueTimeout)
	defer wait.Stop()
	select {
	case s.calls <- struct{}{}:
	case <-wait.C:
		done()
		return nil, &CallError{Status: http.StatusServiceUnavailable, Err: errors.New("the agent is busy with other calls; retry")}
	case <-ctx.Done():
		done()
		return nil, &CallError{Status: http.StatusServiceUnavailable, Err: errors.New("the call ended while it waited for its turn")}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-s.calls
			done()
		})
	}, nil
}

// messageLimiter returns the rate limiter of k's MESSAGE calls.
func (s *ExecutorServer) messageLimiter(k ExecutorKey) *rate.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.messages.Get(k); ok {
		return l.(*rate.Limiter)
	}
	l := rate.NewLimiter(rate.Limit(s.limits.MessageRate), s.limits.MessageBurst)
	s.messages.Add(k, l, 10*time.Minute)
	return l
}

// callFailed answers a call that failed, and returns the status it
// answered: a *CallError with its status and message; any other error is
// the agent's own, logged and answered 500 so that the executor keeps what
// it sent and retries. A caller of the Mesos form (mesos) gets 503 where
// the kubemesos form gets 429 or the agent's 500: Mesos's executor library
// takes a 503 calmly (it drops the call) and any answer but 200, 202, 404
// and 503 for an ERROR its executors abort on (src/executor/executor.cpp),
// while the SDK retries the 429 and the 500.
func (s *ExecutorServer) callFailed(w http.ResponseWriter, mesos bool, err error, what, executor string, kv ...any) int {
	var bad *CallError
	if errors.As(err, &bad) {
		code := bad.Status
		if mesos && code == http.StatusTooManyRequests {
			code = http.StatusServiceUnavailable
		}
		s.Log.V(1).Info("refusing an executor call", append([]any{"executor", executor, "status", code, "reason", err.Error()}, kv...)...)
		httpError(w, code, "%v", err)
		return code
	}
	s.Log.Error(err, what, append([]any{"executor", executor}, kv...)...)
	if mesos {
		httpError(w, http.StatusServiceUnavailable, "the agent could not finish %s (%v); send it again later", what, err)
		return http.StatusServiceUnavailable
	}
	httpError(w, http.StatusInternalServerError, "the agent could not finish %s (%v); keep what you sent and retry", what, err)
	return http.StatusInternalServerError
}

// subscribe takes the updates that a (re)subscribing executor never saw
// acknowledged, then streams events until the executor goes away or
// subscribes anew: in the Mesos form through mesos, else in the kubemesos
// form. release gives the call's slots back once the stream starts.
func (s *ExecutorServer) subscribe(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, key ExecutorKey, agentID string, call *executorapi.Call, mesos *mesosStream, release func()) {
	sub := &subscription{events: make(chan executorapi.Event, 1024), closed: make(chan struct{}), mesos: mesos != nil}
	s.mu.Lock()
	s.lastGen++
	sub.gen = s.lastGen
	if s.subs == nil {
		s.subs = map[ExecutorKey]*subscription{}
	}
	if old := s.subs[key]; old != nil {
		old.close() // a reconnecting executor replaces its old stream
	}
	s.subs[key] = sub
	metrics.SubscribedExecutors.Set(float64(len(s.subs)))
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		ended := s.subs[key] == sub
		if ended {
			delete(s.subs, key)
			metrics.SubscribedExecutors.Set(float64(len(s.subs)))
			s.gone.ended(key, s.Clock.Now(), s.RememberEnds)
		}
		base := s.base
		s.mu.Unlock()
		sub.close()
		if ended {
			if base == nil { // served without Serve: the call's context is all there is
				base = r.Context()
			}
			s.Hooks.Unsubscribed(base, key)
		}
	}()
	// The subscription is registered first, so that acknowledgements of
	// these updates wait in its queue for the stream.
	if call.Subscribe != nil {
		for _, u := range call.Subscribe.UnacknowledgedUpdates {
			err := s.Hooks.Update(r.Context(), key, u)
			var bad *CallError
			switch {
			case err == nil:
			case errors.As(err, &bad) && bad.Status != http.StatusTooManyRequests && bad.Status != http.StatusServiceUnavailable:
				s.Log.Info("dropping an unacknowledged update that the agent refuses", "executor", key.String(), "task", u.TaskID, "uuid", u.UUID, "error", err.Error())
			default:
				// Not taken now: the executor subscribes again later
				// with all of them.
				s.callFailed(w, mesos != nil, err, "taking the unacknowledged updates of a SUBSCRIBE", key.String(), "task", u.TaskID)
				return
			}
		}
	}
	release()
	// The stream has no read deadline (net/http drops it once the body is
	// read, and a background read notices when the executor goes away)
	// and a write deadline per event, so that an executor that stops
	// reading loses its stream, not the agent a goroutine.
	write := func(e executorapi.Event) error {
		if err := rc.SetWriteDeadline(time.Now().Add(s.limits.WriteTimeout)); err != nil {
			return err
		}
		// One write and one flush per event: one HTTP chunk each.
		if mesos != nil {
			return mesos.write(r.Context(), w, e)
		}
		return executorapi.WriteRecord(w, e)
	}
	if mesos != nil {
		// As Mesos: the stream's type is the negotiated one; RecordIO
		// framing is implied.
		w.Header().Set("Content-Type", mesos.codec.MediaType())
	} else {
		w.Header().Set("Content-Type", "application/recordio")
	}
	w.WriteHeader(http.StatusOK)
	if err := write(executorapi.Event{Type: executorapi.EventSubscribed, Subscribed: &executorapi.Subscribed{
		AgentID: agentID, ExecutorID: key.ExecutorID, Framework: key.Framework}}); err != nil {
		return
	}
	s.Log.V(1).Info("executor subscribed", "executor", key.String())
	s.Hooks.Subscribed(r.Context(), key, call.Subscribe)
	// A Mesos executor gets HEARTBEAT events, as Mesos sends them, so that
	// nothing between it and the agent takes a quiet stream for dead.
	var heartbeats <-chan time.Time
	if mesos != nil {
		tick := time.NewTicker(s.limits.MesosHeartbeatInterval)
		defer tick.Stop()
		heartbeats = tick.C
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-sub.closed:
			return
		case e := <-sub.events:
			if err := write(e); err != nil {
				s.Log.V(1).Info("executor stream ended", "executor", key.String(), "error", err.Error())
				return
			}
			if e.Type == executorapi.EventShutdown {
				return
			}
		case <-heartbeats:
			if err := write(executorapi.Event{Type: executorapi.EventHeartbeat}); err != nil {
				s.Log.V(1).Info("executor stream ended", "executor", key.String(), "error", err.Error())
				return
			}
		}
	}
}

// subscriptionEnds records when each executor's last subscription ended,
// for at most a period: one entry per executor ID ever subscribed would
// grow for as long as the agent runs.
type subscriptionEnds struct {
	at    map[ExecutorKey]time.Time
	swept time.Time // the last sweep of the entries past the period
}

// ended records that k's subscription ended at now, and forgets the ends
// older than keep (0: none), sweeping at most once per keep.
func (e *subscriptionEnds) ended(k ExecutorKey, now time.Time, keep time.Duration) {
	if e.at == nil {
		e.at = map[ExecutorKey]time.Time{}
		e.swept = now
	}
	e.at[k] = now
	if keep <= 0 || now.Sub(e.swept) < keep {
		return
	}
	for key, at := range e.at {
		if now.Sub(at) > keep {
			delete(e.at, key)
		}
	}
	e.swept = now
}

// since returns when k's last subscription ended, if that is remembered.
func (e *subscriptionEnds) since(k ExecutorKey) (time.Time, bool) {
	at, ok := e.at[k]
	return at, ok
}

// len is how many ends are remembered.
func (e *subscriptionEnds) len() int { return len(e.at) }
