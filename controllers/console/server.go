package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/kubemesos/kubemesos/internal/leader"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers"
	"github.com/kubemesos/kubemesos/controllers/mesosapi"
	"github.com/kubemesos/kubemesos/controllers/schedcache"
	"github.com/kubemesos/kubemesos/internal/httpauth"
)

// Realm is the realm of the console's 401 challenge.
const Realm = "kubemesos-console"

// DefaultBindAddress is the console's port on every address: 5080, next
// to the Mesos API's 5050 and free of the master's other ports (8080
// metrics, 8081 probes).
const DefaultBindAddress = ":5080"

// HeaderProxied marks a request that a standby passed to the leader; a
// master that is not leading answers it with 503 rather than pass it on
// again, so that a stale Lease never makes a loop.
const HeaderProxied = "X-Kubemesos-Console-Proxied"

// Options are the console's settings, from the master's flags.
type Options struct {
	// BindAddress is where the console listens, such as ":5080"; "0" or
	// "" turns it off.
	BindAddress string
	// AdvertiseAddress is host:port at which the other masters reach this
	// one's console; it is carried in the master's Lease identity
	// (mesosapi.WithConsole).
	AdvertiseAddress string
	// LeaderLease is the master election's Lease, whose holder identity
	// carries the leader's console address.
	LeaderLease types.NamespacedName
}

// Enabled reports whether the console is to be served.
func (o Options) Enabled() bool { return o.BindAddress != "" && o.BindAddress != "0" }

// Source is what the console reads of the leading master: its last
// allocation cycle and its decline filters (a *controllers.Master).
type Source interface {
	LastCycle() *controllers.Cycle
	FiltersOf(fw types.NamespacedName) []schedcache.FilterEnd
	FilterCounts() map[types.NamespacedName]int
}

// minModelAge is the least time between two models: cycles that come
// faster than this (triggered by events) share one.
const minModelAge = time.Second

// Server serves the console: a manager Runnable on every replica. The
// leader answers from its caches; a standby passes every request to the
// leader's console, unread, so that only the leader reviews tokens.
type Server struct {
	opts Options
	src  Source
	// cache reads the manager's informers; lease reads the API server.
	cache client.Reader
	lease client.Reader
	auth  *httpauth.Auth
	// logs reads the tasks' pod logs from the API server.
	logs    typedcorev1.PodsGetter
	elected <-chan struct{}
	clock   clock.WithTicker
	log     logr.Logger
	hist    history
	events  hub
	// sessions seals the viewers' tokens into their login cookies.
	sessions *sealer

	mu      sync.Mutex
	current *model
	builtAt time.Time
}

// New returns the console of mgr's master, reading src.
func New(mgr ctrl.Manager, src Source, o Options) (*Server, error) {
	cs, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("creating the client of the console's reviews: %w", err)
	}
	log := mgr.GetLogger().WithName("console")
	auth, err := httpauth.New(httpauth.Config{Client: cs, Realm: Realm, Log: log.WithName("auth")})
	if err != nil {
		return nil, fmt.Errorf("setting up the console's authentication: %w", err)
	}
	return newServer(o, src, mgr.GetCache(), mgr.GetAPIReader(), auth, cs.CoreV1(), mgr.Elected(), clock.RealClock{}, log)
}

func newServer(o Options, src Source, cache, lease client.Reader, auth *httpauth.Auth, logs typedcorev1.PodsGetter, elected <-chan struct{}, clk clock.WithTicker, log logr.Logger) (*Server, error) {
	sessions, err := newSealer()
	if err != nil {
		return nil, err
	}
	return &Server{opts: o, src: src, cache: cache, lease: lease, auth: auth, logs: logs, elected: elected, clock: clk, log: log, sessions: sessions}, nil
}

// NeedLeaderElection is false: a standby serves too, by passing requests
// to the leader.
func (s *Server) NeedLeaderElection() bool { return false }

// Start serves the console until ctx ends, and records every allocation
// cycle's totals in the history while this master leads.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.BindAddress)
	if err != nil {
		return fmt.Errorf("listening for the console on %s: %w", s.opts.BindAddress, err)
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go s.recordHistory(ctx)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("serving the console", "address", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serving the console: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("stopping the console: %w", err)
	}
	return nil
}

// recordHistory samples each new cycle once it leads, and publishes it
// to the live updates, until ctx ends.
func (s *Server) recordHistory(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-s.elected:
	}
	t := s.clock.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	var pub publisher
	for {
		c := s.src.LastCycle()
		s.hist.record(c)
		s.maybePublish(ctx, &pub, c)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// leading reports whether this master won the election.
func (s *Server) leading() bool { return leader.Leading(s.elected) }

// Handler is the console's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/overview", s.api(func(r *http.Request, m *model, a *access) (any, error) {
		return buildOverview(m, a, &s.hist), nil
	}))
	mux.HandleFunc("GET /api/v1/frameworks", s.api(func(r *http.Request, m *model, a *access) (any, error) {
		return listFrameworks(m, a, r.URL.Query().Get("q"), page(r)), nil
	}))
	mux.HandleFunc("GET /api/v1/frameworks/{namespace}/{name}", s.api(func(r *http.Request, m *model, a *access) (any, error) {
		ns, name := r.PathValue("namespace"), r.PathValue("name")
		d := frameworkDetail(m, a, ns, name, func() []Filter {
			out := []Filter{}
			for _, f := range s.src.FiltersOf(key(ns, name)) {
				out = append(out, Filter{AgentID: f.AgentID, Until: f.Until})
			}
			return out
		})
		if d == nil {
			return nil, errNotFound
		}
		return d, nil
	}))
	mux.HandleFunc("GET /api/v1/agents", s.api(func(r *http.Request, m *model, a *access) (any, error) {
		if !a.agents {
			return nil, errAgentsForbidden
		}
		return listAgents(m, a, r.URL.Query().Get("q"), page(r)), nil
	}))
	mux.HandleFunc("GET /api/v1/agents/{name}", s.api(func(r *http.Request, m *model, a *access) (any, error) {
		if !a.agents {
			return nil, errAgentsForbidden
		}
		if d := agentDetail(m, a, r.PathValue("name")); d != nil {
			return d, nil
		}
		return nil, errNotFound
	}))
	mux.HandleFunc("GET /api/v1/tasks", s.api(func(r *http.Request, m *model, a *access) (any, error) {
		q := r.URL.Query()
		return listTasks(m, a, TaskQuery{Search: q.Get("q"), Namespace: q.Get("namespace"), Framework: q.Get("framework"),
			State: q.Get("state"), Agent: q.Get("agent"), Page: page(r)}), nil
	}))
	mux.HandleFunc("GET /api/v1/tasks/{namespace}/{name}", s.api(func(r *http.Request, m *model, a *access) (any, error) {
		if d := taskDetail(m, a, r.PathValue("namespace"), r.PathValue("name")); d != nil {
			return d, nil
		}
		return nil, errNotFound
	}))
	mux.HandleFunc("GET /api/v1/tasks/{namespace}/{name}/log", s.taskLog)
	mux.HandleFunc("GET /api/v1/events", s.liveEvents)
	mux.HandleFunc("GET /api/v1/whoami", s.whoAmI)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("GET /api/v1/roles", s.api(func(r *http.Request, m *model, a *access) (any, error) {
		return listRoles(m, a), nil
	}))
	routeWeb(mux)
	return s.front(mux)
}

// front sets the headers of every answer and passes a standby's requests
// to the leader.
func (s *Server) front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		if !s.leading() {
			s.proxy(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// proxy passes r to the leader's console, found in the master Lease.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(HeaderProxied) != "" {
		writeError(w, http.StatusServiceUnavailable, "This master does not lead any more; try again.")
		return
	}
	addr, msg := s.leaderAddress(r.Context())
	if addr == "" {
		writeError(w, http.StatusServiceUnavailable, msg)
		return
	}
	target := &url.URL{Scheme: "http", Host: addr}
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			pr.Out.Header.Set(HeaderProxied, "1")
		},
		// Server-Sent Events pass at once.
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			s.log.V(2).Info("passing a console request to the leader failed", "leader", addr, "error", err.Error())
			writeError(w, http.StatusBadGateway, "The leading master's console did not answer; try again.")
		},
	}
	p.ServeHTTP(w, r)
}

// leaderAddress reads the leader's console address from the master
// Lease, or says why there is none.
func (s *Server) leaderAddress(ctx context.Context) (string, string) {
	var lease coordinationv1.Lease
	if err := s.lease.Get(ctx, s.opts.LeaderLease, &lease); err != nil {
		if !apierrors.IsNotFound(err) {
			s.log.Error(err, "reading the master Lease to find the leader's console", "lease", s.opts.LeaderLease)
		}
		return "", "No leader elected."
	}
	spec := lease.Spec
	if spec.HolderIdentity == nil || *spec.HolderIdentity == "" || spec.RenewTime == nil {
		return "", "No leader elected."
	}
	if spec.LeaseDurationSeconds != nil && s.clock.Now().After(spec.RenewTime.Add(time.Duration(*spec.LeaseDurationSeconds)*time.Second)) {
		return "", "No leader elected."
	}
	addr, ok := mesosapi.ConsoleAddress(*spec.HolderIdentity)
	if !ok {
		return "", "The leading master does not serve the console."
	}
	return addr, ""
}

// Errors of the API, with their status codes.
var (
	errNotFound        = &apiError{code: http.StatusNotFound, msg: "Not found, or not yours to read."}
	errAgentsForbidden = &apiError{code: http.StatusForbidden, msg: "Reading the agents takes the right to list agents.kubemesos.io."}
	errNoCycle         = &apiError{code: http.StatusServiceUnavailable, msg: "The master has not run an allocation cycle yet; try again."}
)

type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return e.msg }

// api answers a JSON API request: it authenticates the viewer, finds out
// what the viewer may read, and gives fn the shared model.
func (s *Server) api(fn func(r *http.Request, m *model, a *access) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, m, a, ok := s.viewer(w, r)
		if !ok {
			return
		}
		out, err := fn(r, m, a)
		if err != nil {
			s.writeErr(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(out); err != nil {
			s.log.V(2).Info("writing a console answer failed", "error", err.Error())
		}
	}
}

// viewer authenticates the viewer of r and finds out what they may read
// of the current model; when it cannot, it answers r and returns false.
func (s *Server) viewer(w http.ResponseWriter, r *http.Request) (*httpauth.Caller, *model, *access, bool) {
	caller, err := s.authenticate(r)
	if err != nil {
		s.writeAuthError(w, err)
		return nil, nil, nil, false
	}
	m, err := s.model(r.Context())
	if err != nil {
		s.writeErr(w, err)
		return nil, nil, nil, false
	}
	a, err := accessOf(r.Context(), s.auth, caller, m.namespaces)
	if err != nil {
		s.writeAuthError(w, err)
		return nil, nil, nil, false
	}
	return caller, m, a, true
}

// model returns the model of the last cycle, building it when the cycle
// is newer than the model and the model is at least minModelAge old.
func (s *Server) model(ctx context.Context) (*model, error) {
	c := s.src.LastCycle()
	if c == nil {
		return nil, errNoCycle
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != nil && (s.current.seq == c.Seq || s.clock.Since(s.builtAt) < minModelAge) {
		return s.current, nil
	}
	var list kmv1.TaskList
	// Read only: the model keeps the cached objects, never a copy.
	if err := s.cache.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("reading the cached tasks: %w", err)
	}
	tasks := make([]*kmv1.Task, len(list.Items))
	for i := range list.Items {
		tasks[i] = &list.Items[i]
	}
	s.current, s.builtAt = buildModel(c, tasks, s.src.FilterCounts()), s.clock.Now()
	return s.current, nil
}

func (s *Server) writeErr(w http.ResponseWriter, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(w, ae.code, ae.msg)
		return
	}
	s.log.Error(err, "answering a console request")
	writeError(w, http.StatusInternalServerError, "The console failed to answer; see the master's log.")
}

// writeAuthError answers a failed authentication or review. The 401 has
// a Bearer challenge only: a Basic one would make browsers ask for a
// password.
func (s *Server) writeAuthError(w http.ResponseWriter, err error) {
	switch code := httpauth.StatusCode(err); code {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer realm=%q", Realm))
		writeError(w, code, "Send a Kubernetes token as `Authorization: Bearer <token>` (for example from `kubectl create token`), or log in with it (POST /login).")
	case http.StatusForbidden:
		writeError(w, code, err.Error())
	case http.StatusServiceUnavailable:
		writeError(w, code, "The Kubernetes API server could not review the request; try again.")
	default:
		s.writeErr(w, err)
	}
}

// ErrorBody is the JSON of an error answer.
type ErrorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(ErrorBody{Code: code, Message: msg})
}

// page is the page the request asks for, 1 by default.
func page(r *http.Request) int {
	p, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || p < 1 {
		return 1
	}
	return p
}
