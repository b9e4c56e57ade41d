package mesosapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	"github.com/kubemesos/kubemesos/internal/connlimit"
	"github.com/kubemesos/kubemesos/internal/fieldowner"
	"github.com/kubemesos/kubemesos/internal/httpauth"
	"github.com/kubemesos/kubemesos/internal/leader"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
	"github.com/kubemesos/kubemesos/internal/messages"
	"github.com/kubemesos/kubemesos/internal/metrics"
)

// Path is where the scheduler API is served.
const Path = "/api/v1/scheduler"

// HeaderStreamID is the header that names a subscription's event stream.
const HeaderStreamID = "Mesos-Stream-Id"

// Options are the settings of the scheduler API, from the master's flags.
type Options struct {
	// BindAddress is where the API listens, such as ":5050"; "0" or ""
	// turns it off.
	BindAddress string
	// AnonymousNamespace, when set, is the namespace of calls that carry
	// no credentials: they act as AnonymousServiceAccount there, with what
	// RBAC grants it. Anyone who reaches the endpoint can then do that:
	// unsafe on a shared cluster.
	AnonymousNamespace string
	// AnonymousServiceAccount is who anonymous calls act as;
	// httpauth.DefaultAnonymousServiceAccount when empty.
	AnonymousServiceAccount string
	// HeartbeatInterval is how often a stream carries a HEARTBEAT event.
	HeartbeatInterval time.Duration
	// MaxBodyBytes is the largest call body read.
	MaxBodyBytes int64
	// LeaderLease is the master election's Lease, whose holder identity
	// carries the leader's advertised address (AdvertisedIdentity).
	LeaderLease types.NamespacedName
	// MasterID names this master in SUBSCRIBED's master_info.
	MasterID string
	// AdvertiseAddress is host:port of this master's API as frameworks
	// reach it, given in master_info.
	AdvertiseAddress string
	// CommandImage runs a command task whose TaskInfo names no container
	// image; DefaultCommandImage when empty.
	CommandImage string
	// SchedulerLeaseDuration is the duration of the scheduler Lease the
	// master holds for an open stream; it is renewed every third of it.
	SchedulerLeaseDuration time.Duration
	// MaxConcurrentCalls bounds the calls whose bodies are read and
	// decoded at once, all callers together (DefaultMaxConcurrentCalls
	// when 0); a call waits up to callPlaceWait for a place, then gets
	// 503 with Retry-After. With MaxBodyBytes it bounds what bodies being
	// read can hold of the master's memory.
	MaxConcurrentCalls int
	// MaxCallsPerNamespace bounds the calls of one namespace (one
	// tenant's frameworks) being read or handled at once
	// (DefaultMaxCallsPerNamespace when 0); more wait up to
	// callPlaceWait for a place, then get 503 with Retry-After (which
	// Mesos's scheduler library takes calmly: anything but 200, 202, 307,
	// 404 and 503 is an ERROR its frameworks abort on). A SUBSCRIBE counts
	// until its stream starts.
	MaxCallsPerNamespace int
	// BodyReadTimeout bounds the reading of a call's body
	// (DefaultBodyReadTimeout when 0): a caller that stalls gets 408.
	BodyReadTimeout time.Duration
	// HeaderReadTimeout bounds the reading of a call's headers, from their
	// first bytes (DefaultHeaderReadTimeout when 0). A connection that has
	// sent nothing, new or kept alive, is not closed for it: Mesos's
	// scheduler library opens the connection for its calls when it
	// connects, before it has a call to send, keeps it, and takes its
	// closing for the master's loss (src/scheduler/scheduler.cpp).
	HeaderReadTimeout time.Duration
	// MaxConnections bounds the open connections
	// (DefaultMaxConnections when 0). A connection beyond it takes the
	// place of the connection quiet the longest of the address holding
	// the most, when that address holds two more than the newcomer's;
	// else it is closed at once (connlimit).
	MaxConnections int
	// MaxConnectionsPerAddress bounds the open connections from one
	// address (DefaultMaxConnectionsPerAddress when 0); more are closed
	// at once. Connections through kubectl port-forward all come from
	// one address.
	MaxConnectionsPerAddress int
	// StreamWriteTimeout bounds each write to a subscription's stream
	// (DefaultStreamWriteTimeout when 0): a scheduler that stops reading
	// loses its stream, and what was queued for it, once the connection's
	// buffers are full.
	StreamWriteTimeout time.Duration
}

// Defaults of the options.
const (
	// DefaultBindAddress is Mesos's master port on every address.
	DefaultBindAddress = ":5050"
	// DefaultHeartbeatInterval is Mesos's.
	DefaultHeartbeatInterval = 15 * time.Second
	// DefaultMaxBodyBytes bounds a call's body.
	DefaultMaxBodyBytes = 8 << 20
	// DefaultSchedulerLeaseDuration is the SDK's scheduler Lease duration.
	DefaultSchedulerLeaseDuration = 15 * time.Second
	// DefaultMaxConcurrentCalls bounds the bodies read at once: with
	// DefaultMaxBodyBytes, at most 256 MiB of them.
	DefaultMaxConcurrentCalls = 32
	// DefaultMaxCallsPerNamespace bounds one namespace's calls in flight:
	// a framework makes one at a time, mostly, and one namespace's calls
	// can hold at most half of DefaultMaxConcurrentCalls' places to read
	// bodies.
	DefaultMaxCallsPerNamespace = 16
	// callPlaceWait is how long a call waits for a place to read its body
	// before it gets 503 (which Mesos's scheduler library drops).
	callPlaceWait = 5 * time.Second
	// DefaultBodyReadTimeout bounds the reading of a call's body.
	DefaultBodyReadTimeout = 30 * time.Second
	// DefaultHeaderReadTimeout bounds the reading of a call's headers.
	DefaultHeaderReadTimeout = 10 * time.Second
	// DefaultMaxConnections bounds the open connections: a framework
	// holds two (its stream and its calls).
	DefaultMaxConnections = 4096
	// DefaultMaxConnectionsPerAddress bounds the open connections from
	// one address (a pod, or every port-forwarded framework).
	DefaultMaxConnectionsPerAddress = 512
	// DefaultStreamWriteTimeout bounds each write to a stream: four of
	// Mesos's heartbeat intervals.
	DefaultStreamWriteTimeout = time.Minute
	// maxHeaderBytes bounds a call's headers (a bearer token is a few KiB).
	maxHeaderBytes = 64 << 10
)

// DefaultOptions returns the defaults: the API on port 5050, every call
// needing credentials.
func DefaultOptions() Options {
	return Options{
		BindAddress:            DefaultBindAddress,
		HeartbeatInterval:      DefaultHeartbeatInterval,
		MaxBodyBytes:           DefaultMaxBodyBytes,
		CommandImage:           DefaultCommandImage,
		SchedulerLeaseDuration: DefaultSchedulerLeaseDuration,
	}
}

// Enabled reports whether the API is to be served.
func (o Options) Enabled() bool { return o.BindAddress != "" && o.BindAddress != "0" }

// Server serves the scheduler API. It is a manager Runnable that runs on
// every replica: a standby redirects to the leader.
type Server struct {
	// ClearFilters, when set, drops a framework's decline filters in the
	// leading master's scheduling cache (REVIVE).
	ClearFilters func(framework types.NamespacedName)

	opts Options
	// ports are the ports of the outstanding offers sent.
	ports portSets
	// c reads from the manager's cache and writes through its Guard.
	c client.Client
	// schedulerClient writes what a framework's scheduler would write.
	schedulerClient client.Client
	// reader reads the API server directly, for what the cache may not
	// have yet (an object created a moment ago, the master Lease).
	reader  client.Reader
	elected <-chan struct{}
	// auth authenticates callers and authorizes their calls.
	auth *httpauth.Auth
	// taskQueue holds the Tasks whose updates are to be sent.
	taskQueue workqueue.TypedRateLimitingInterface[taskKey]
	// groupQueue holds the tasks of task groups that ended, whose
	// groups' other tasks are to be killed.
	groupQueue workqueue.TypedRateLimitingInterface[types.NamespacedName]
	// informers are the manager's, for the Offer and Task events.
	informers cache.Informers
	// messageCache holds the messages from executors to schedulers
	// (MessageCacheOptions); deleter deletes those written to streams,
	// and delivered remembers them.
	messageCache cache.Cache
	deleter      *messages.Deleter
	delivered    *deliveredLog
	clock        clock.WithTicker
	// masterLease is a standby's last reading of the master Lease.
	masterLease leaseReading
	log         logr.Logger
	streams     *registry
	// calls holds a place for each call in flight (admitCall).
	calls chan struct{}
	// tenantCalls holds the places of the namespaces with calls in
	// flight (admitTenant).
	tenantMu    sync.Mutex
	tenantCalls map[string]*tenantPlaces
}

// tenantPlaces are one namespace's places for calls, and how many calls
// hold or wait for one.
type tenantPlaces struct {
	places chan struct{}
	users  int
}

// New returns the scheduler API of mgr's master.
func New(mgr ctrl.Manager, o Options) (*Server, error) {
	cs, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("creating the client of the Mesos API's reviews: %w", err)
	}
	// Standbys redirect rather than pass calls on: the leader sees each
	// caller's own address, and rations new tokens by it.
	cfg := httpauth.Config{Client: cs, Log: mgr.GetLogger().WithName("mesos-api-auth"), RationByAddress: true}
	if o.AnonymousNamespace != "" {
		cfg.Anonymous = &httpauth.Anonymous{Namespace: o.AnonymousNamespace, ServiceAccount: o.AnonymousServiceAccount}
	}
	auth, err := httpauth.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("setting up the Mesos API's authentication: %w", err)
	}
	mo := MessageCacheOptions()
	mo.Scheme, mo.Mapper = mgr.GetScheme(), mgr.GetRESTMapper()
	mc, err := cache.New(mgr.GetConfig(), mo)
	if err != nil {
		return nil, fmt.Errorf("creating the cache of framework messages: %w", err)
	}
	log := mgr.GetLogger().WithName("mesos-api")
	return &Server{
		messageCache:    mc,
		deleter:         messages.NewDeleter(fieldowner.Client(mgr.GetClient(), fieldowner.Scheduler), log.WithName("messages")),
		delivered:       newDeliveredLog(),
		auth:            auth,
		opts:            o,
		c:               mgr.GetClient(),
		schedulerClient: fieldowner.Client(mgr.GetClient(), fieldowner.Scheduler),
		reader:          mgr.GetAPIReader(),
		elected:         mgr.Elected(),
		informers:       mgr.GetCache(),
		clock:           clock.RealClock{},
		log:             log,
		streams:         newRegistry(),
		calls:           make(chan struct{}, cmp.Or(max(o.MaxConcurrentCalls, 0), DefaultMaxConcurrentCalls)),
		taskQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[taskKey](),
			workqueue.TypedRateLimitingQueueConfig[taskKey]{Name: "mesos-api-task-updates"}),
		groupQueue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[types.NamespacedName](),
			workqueue.TypedRateLimitingQueueConfig[types.NamespacedName]{Name: "mesos-api-task-groups"}),
	}, nil
}

// NeedLeaderElection is false: standbys answer too, with a redirect.
func (s *Server) NeedLeaderElection() bool { return false }

// Start serves the API until ctx ends; then every stream is closed.
func (s *Server) Start(ctx context.Context) error {
	metrics.ObserveUnacknowledgedUpdates(s.streams.unacknowledged)
	if err := s.watchOffers(ctx, s.informers); err != nil {
		return err
	}
	s.runUpdateWorkers(ctx)
	s.runGroupKiller(ctx)
	if err := s.watchTasks(ctx, s.informers); err != nil {
		return err
	}
	if err := s.watchFailures(ctx, s.informers); err != nil {
		return err
	}
	if err := s.startMessages(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.opts.BindAddress)
	if err != nil {
		return fmt.Errorf("listening for the Mesos scheduler API on %s: %w", s.opts.BindAddress, err)
	}
	// The header timeout starts with a call's first byte (see
	// HeaderReadTimeout), and quiet connections never keep a call out
	// (connlimit).
	cl := connlimit.Listen(ln, connlimit.Limits{Max: cmp.Or(max(s.opts.MaxConnections, 0), DefaultMaxConnections),
		MaxPerAddress: cmp.Or(max(s.opts.MaxConnectionsPerAddress, 0), DefaultMaxConnectionsPerAddress)}, s.log)
	mux := http.NewServeMux()
	mux.Handle(Path, s)
	srv := &http.Server{
		ConnState:         cl.ConnState,
		Handler:           mux,
		ReadHeaderTimeout: cmp.Or(max(s.opts.HeaderReadTimeout, 0), DefaultHeaderReadTimeout),
		// No idle timeout: Mesos's master never closes a kept-alive
		// connection (see HeaderReadTimeout). A request that never sends
		// its body is closed (BodyReadTimeout).
		IdleTimeout:    -1,
		MaxHeaderBytes: maxHeaderBytes,
		BaseContext:    func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(cl) }()
	s.log.Info("serving the Mesos scheduler API", "address", ln.Addr().String(), "path", Path)
	select {
	case err := <-errc:
		return fmt.Errorf("serving the Mesos scheduler API: %w", err)
	case <-ctx.Done():
	}
	s.streams.closeAll()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("stopping the Mesos scheduler API: %w", err)
	}
	return nil
}

// leading reports whether this master won the election.
func (s *Server) leading() bool { return leader.Leading(s.elected) }

// ServeHTTP answers one call, in the order Mesos checks a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if herr := s.serve(w, r); herr != nil {
		s.log.V(2).Info("refused a scheduler call", "code", herr.Code, "message", herr.Msg, "remote", r.RemoteAddr)
		herr.Write(w)
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) *httpError {
	// A standby redirects before it authenticates: only the leader
	// reviews tokens (its writes, reviews included, pass its Guard).
	if !s.leading() {
		return s.redirect(w, r)
	}
	caller, ns, ok := s.authenticate(w, r)
	if !ok {
		return nil
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return &httpError{Code: http.StatusMethodNotAllowed, Msg: "405 Method Not Allowed. Expecting one of { 'POST' }, but received '" + r.Method + "'."}
	}
	c, herr := mesoswire.RequestCodec(r.Header.Get("Content-Type"))
	if herr != nil {
		return herr
	}
	leave, herr := s.admitTenant(r, w, ns)
	if herr != nil {
		return herr
	}
	defer leave() // on a panic too
	release, herr := s.admitCall(w, r)
	if herr != nil {
		return herr
	}
	defer release() // on a panic too
	body, herr := s.readBody(w, r)
	if herr != nil {
		return herr
	}
	call, herr := decodeCall(c, body)
	// The place bounds the bodies being read and decoded; handling a call
	// may wait on its stream, which must not hold places from others.
	release()
	body = nil
	if herr != nil {
		return herr
	}
	if msg := validateCall(call); msg != "" {
		return badRequest("Failed to validate scheduler::Call: " + msg)
	}
	if call.GetType() == schedulerv1.Call_SUBSCRIBE {
		out, ok := mesoswire.AcceptCodec(r.Header.Values("Accept"))
		if !ok {
			return mesoswire.NotAcceptable()
		}
		if r.Header.Get(HeaderStreamID) != "" {
			return badRequest("Subscribe calls should not include the '" + HeaderStreamID + "' header")
		}
		// The stream holds no place of its namespace's: a framework has
		// one stream at a time.
		leave()
		return s.subscribe(w, r, caller, ns, out, call.GetSubscribe())
	}
	st, herr := s.subscribedStream(r.Context(), ns, call.GetFrameworkId().GetValue(), r.Header.Get(HeaderStreamID))
	if herr != nil {
		return herr
	}
	if herr := s.authorize(r, caller, call.GetType().String(), ns, st.name); herr != nil {
		return herr
	}
	if herr := s.dispatch(r.Context(), st, call); herr != nil {
		return herr
	}
	if call.GetType() == schedulerv1.Call_UPDATE_FRAMEWORK {
		w.WriteHeader(http.StatusOK) // as Mesos answers it
		return nil
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// admitCall takes one of the MaxConcurrentCalls places to read and decode
// a call's body, waiting up to callPlaceWait, or answers 503 with
// Retry-After. The caller calls release once the body is decoded (again
// is harmless).
func (s *Server) admitCall(w http.ResponseWriter, r *http.Request) (release func(), herr *httpError) {
	timer := time.NewTimer(callPlaceWait)
	defer timer.Stop()
	select {
	case s.calls <- struct{}{}:
		return sync.OnceFunc(func() { <-s.calls }), nil
	case <-timer.C:
	case <-r.Context().Done():
	}
	return nil, s.busy(w, "Too many call bodies being read ("+strconv.Itoa(cap(s.calls))+"); retry in a second")
}

// admitTenant takes one of namespace ns's MaxCallsPerNamespace places
// for calls, waiting up to callPlaceWait, or answers 503 with
// Retry-After, so that one tenant's calls cannot hold every place and
// goroutine the master has for calls. The caller calls leave when the
// call is done (again is harmless).
func (s *Server) admitTenant(r *http.Request, w http.ResponseWriter, ns string) (leave func(), herr *httpError) {
	limit := cmp.Or(max(s.opts.MaxCallsPerNamespace, 0), DefaultMaxCallsPerNamespace)
	s.tenantMu.Lock()
	if s.tenantCalls == nil {
		s.tenantCalls = map[string]*tenantPlaces{}
	}
	tp := s.tenantCalls[ns]
	if tp == nil {
		tp = &tenantPlaces{places: make(chan struct{}, limit)}
		s.tenantCalls[ns] = tp
	}
	tp.users++
	s.tenantMu.Unlock()
	done := func() {
		s.tenantMu.Lock()
		defer s.tenantMu.Unlock()
		if tp.users--; tp.users == 0 {
			delete(s.tenantCalls, ns)
		}
	}
	timer := time.NewTimer(callPlaceWait)
	defer timer.Stop()
	select {
	case tp.places <- struct{}{}:
		return sync.OnceFunc(func() {
			<-tp.places
			done()
		}), nil
	case <-timer.C:
	case <-r.Context().Done():
	}
	done()
	return nil, s.busy(w, "Too many calls in flight from namespace "+ns+" ("+strconv.Itoa(limit)+"); retry in a second")
}

// busy is the answer to a call refused, before its body was read, for a
// place it waited for in vain: 503 with Retry-After. The server still
// reads and drops the rest of a small body before it answers, so that the
// connection can carry the next call; a body that does not come would
// hold the answer and its goroutine for ever, so that read is bounded by
// BodyReadTimeout, past which the connection closes after the answer.
func (s *Server) busy(w http.ResponseWriter, msg string) *httpError {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.bodyReadTimeout()))
	w.Header().Set("Retry-After", "1")
	return &httpError{Code: http.StatusServiceUnavailable, Msg: msg}
}

// bodyReadTimeout is BodyReadTimeout, or its default.
func (s *Server) bodyReadTimeout() time.Duration {
	return cmp.Or(max(s.opts.BodyReadTimeout, 0), DefaultBodyReadTimeout)
}

// readBody reads the whole body within BodyReadTimeout, refusing one over
// the limit with 413 and one not sent in time with 408.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *httpError) {
	limit := s.opts.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	tooLarge := &httpError{Code: http.StatusRequestEntityTooLarge, Msg: "Request body is larger than the limit of " + strconv.FormatInt(limit, 10) + " bytes (--mesos-api-max-body-bytes)"}
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	timeout := s.bodyReadTimeout()
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(timeout)) == nil
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		// The deadline stays, and the connection closes after the answer:
		// the server would otherwise wait to read the rest of the body
		// before it answers.
		w.Header().Set("Connection", "close")
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, &httpError{Code: http.StatusRequestTimeout, Msg: "The request body was not sent within " + timeout.String()}
		}
		return nil, badRequest("Failed to read the request body: " + err.Error())
	}
	if int64(len(body)) > limit {
		w.Header().Set("Connection", "close") // the rest is not read
		return nil, tooLarge
	}
	if deadline {
		// Cleared once read: the server's own read that watches for the
		// client going away must not end a stream at the deadline.
		_ = rc.SetReadDeadline(time.Time{})
	}
	return body, nil
}
