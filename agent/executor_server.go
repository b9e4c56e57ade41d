package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/kubemesos/kubemesos/agent/executorapi"
)

// ExecutorKey names an executor on this agent.
type ExecutorKey struct {
	Namespace, Framework, ExecutorID string
}

func (k ExecutorKey) String() string { return k.Namespace + "/" + k.Framework + "/" + k.ExecutorID }

// ExecutorHooks is what the executor API asks of the rest of the agent.
type ExecutorHooks interface {
	// AgentID is the agent's current agentID, "" before admission.
	AgentID() string
	// Authenticate tells which executor a bearer token belongs to. A
	// *CallError carries the answer's status (401, 403, 503); any other
	// error is answered 500.
	Authenticate(ctx context.Context, token string) (ExecutorKey, error)
	// Subscribed is told that an executor (re)subscribed.
	Subscribed(k ExecutorKey, s *executorapi.Subscribe)
	// Update takes a task status from an executor. A *CallError is the
	// executor's fault and answered with its 4xx status; any other error
	// is the agent's own (a checkpoint that cannot be written) and is
	// answered 500, so that the executor keeps the update and retries.
	Update(k ExecutorKey, s executorapi.TaskStatus) error
	// Message takes a message from an executor to its scheduler.
	Message(k ExecutorKey, data string)
}

// ExecutorServer serves the executor API and streams events to the
// subscribed executors.
type ExecutorServer struct {
	Hooks ExecutorHooks
	Log   logr.Logger

	// Clock stamps the end of each subscription.
	Clock clock.PassiveClock

	mu   sync.Mutex
	subs map[ExecutorKey]*subscription
	gone map[ExecutorKey]time.Time // when each executor's last subscription ended
}

type subscription struct {
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
	at, ok := s.gone[k]
	return at, ok && s.subs[k] == nil
}

// Disconnect ends an executor's subscription, for example after SHUTDOWN.
func (s *ExecutorServer) Disconnect(k ExecutorKey) {
	s.mu.Lock()
	sub := s.subs[k]
	delete(s.subs, k)
	s.mu.Unlock()
	if sub != nil {
		sub.close()
	}
}

// CallError is an executor API error that is the caller's fault.
type CallError struct {
	// Status is the HTTP status of the answer, a 4xx.
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

// ServeHTTP handles POST /api/v1/executor.
func (s *ExecutorServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != executorapi.Path {
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
		httpError(w, http.StatusServiceUnavailable, "the agent is not admitted yet; retry")
		return
	}
	// Who calls is known from the headers alone: nothing of an
	// unauthenticated caller's body is read.
	token, bearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !bearer {
		token = ""
	}
	key, err := s.Hooks.Authenticate(r.Context(), token)
	if err != nil {
		s.callFailed(w, err, "authenticating an executor call", "")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, executorapi.MaxCallBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpError(w, http.StatusRequestEntityTooLarge, "the call is larger than %d bytes", executorapi.MaxCallBytes)
			return
		}
		httpError(w, http.StatusBadRequest, "reading the call: %v", err)
		return
	}
	call, err := executorapi.ParseCall(body)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if named := (ExecutorKey{Namespace: call.Namespace, Framework: call.Framework, ExecutorID: call.ExecutorID}); named != key {
		httpError(w, http.StatusForbidden, "the token is executor %s's; the call names executor %s", key, named)
		return
	}
	switch call.Type {
	case executorapi.CallSubscribe:
		s.subscribe(w, r, key, agentID, call)
	case executorapi.CallUpdate:
		if err := s.Hooks.Update(key, call.Update.Status); err != nil {
			s.callFailed(w, err, "taking a status update", key.String(), "task", call.Update.Status.TaskID)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	case executorapi.CallMessage:
		s.Hooks.Message(key, call.Message.Data)
		w.WriteHeader(http.StatusAccepted)
	}
}

// callFailed answers a call that failed: a *CallError with its status and
// message; any other error is the agent's own, logged and answered 500 so
// that the executor keeps what it sent and retries.
func (s *ExecutorServer) callFailed(w http.ResponseWriter, err error, what, executor string, kv ...any) {
	var bad *CallError
	if errors.As(err, &bad) {
		httpError(w, bad.Status, "%v", err)
		return
	}
	s.Log.Error(err, what, append([]any{"executor", executor}, kv...)...)
	httpError(w, http.StatusInternalServerError, "the agent could not finish %s (%v); keep what you sent and retry", what, err)
}

// subscribe streams events until the executor goes away or subscribes anew.
func (s *ExecutorServer) subscribe(w http.ResponseWriter, r *http.Request, key ExecutorKey, agentID string, call *executorapi.Call) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		httpError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	sub := &subscription{events: make(chan executorapi.Event, 1024), closed: make(chan struct{})}
	s.mu.Lock()
	if s.subs == nil {
		s.subs = map[ExecutorKey]*subscription{}
	}
	if old := s.subs[key]; old != nil {
		old.close() // a reconnecting executor replaces its old stream
	}
	s.subs[key] = sub
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.subs[key] == sub {
			delete(s.subs, key)
			if s.gone == nil {
				s.gone = map[ExecutorKey]time.Time{}
			}
			s.gone[key] = s.Clock.Now()
		}
		s.mu.Unlock()
		sub.close()
	}()

	w.Header().Set("Content-Type", "application/recordio")
	w.WriteHeader(http.StatusOK)
	if err := executorapi.WriteRecord(w, executorapi.Event{Type: executorapi.EventSubscribed, Subscribed: &executorapi.Subscribed{
		AgentID: agentID, ExecutorID: key.ExecutorID, Framework: key.Framework}}); err != nil {
		return
	}
	flusher.Flush()
	s.Log.V(1).Info("executor subscribed", "executor", key.String())
	s.Hooks.Subscribed(key, call.Subscribe)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-sub.closed:
			return
		case e := <-sub.events:
			if err := executorapi.WriteRecord(w, e); err != nil {
				return
			}
			flusher.Flush()
			if e.Type == executorapi.EventShutdown {
				return
			}
		}
	}
}
