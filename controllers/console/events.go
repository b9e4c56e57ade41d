package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/kubemesos/kubemesos/controllers"
)

// Bounds of the live updates (GET /api/v1/events).
const (
	// MaxEventClients is how many viewers may follow the live updates at
	// once; one more gets 503.
	MaxEventClients = 256
	// HeartbeatInterval is how often a quiet stream gets a comment, so
	// that proxies keep it open and the viewer sees it alive.
	HeartbeatInterval = 15 * time.Second
	// HistoryRefresh is how often, at most, a stream sends an overview
	// whose only change is its allocation history, which gains a sample
	// every cycle: the counts go out at the cycle they change, the chart
	// moves every HistoryRefresh.
	HistoryRefresh = 10 * time.Second
	// minEventInterval is the least time between two published models.
	minEventInterval = time.Second
	// eventWriteTimeout bounds writing one event to a viewer.
	eventWriteTimeout = 10 * time.Second
)

// subscriber is one viewer's stream: the hub hands it each published
// model, and closes dropped when the viewer did not take the last one in
// time.
type subscriber struct {
	models  chan *model
	dropped chan struct{}
}

// hub hands each published model to every subscriber without ever
// waiting for one.
type hub struct {
	mu      sync.Mutex
	clients map[*subscriber]struct{}
}

// subscribe adds a subscriber, false when there are MaxEventClients.
func (h *hub) subscribe() (*subscriber, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.clients) >= MaxEventClients {
		return nil, false
	}
	if h.clients == nil {
		h.clients = map[*subscriber]struct{}{}
	}
	s := &subscriber{models: make(chan *model, 1), dropped: make(chan struct{})}
	h.clients[s] = struct{}{}
	return s, true
}

// unsubscribe removes s, if the hub has not dropped it.
func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, s)
}

// len is the number of subscribers.
func (h *hub) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// publish hands m to every subscriber; one still holding the previous
// model is dropped.
func (h *hub) publish(m *model) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.clients {
		select {
		case s.models <- m:
		default:
			delete(h.clients, s)
			close(s.dropped)
		}
	}
}

// publisher decides when a cycle is published: a new one, at most once
// per minEventInterval, and only when someone follows.
type publisher struct {
	seq uint64
	at  time.Time
}

// maybePublish publishes the model of c when it is due.
func (s *Server) maybePublish(ctx context.Context, p *publisher, c *controllers.Cycle) {
	if c == nil || c.Seq == p.seq || s.clock.Since(p.at) < minEventInterval || s.events.len() == 0 {
		return
	}
	m, err := s.model(ctx)
	if err != nil {
		s.log.V(2).Info("building the console's model for the live updates failed", "error", err.Error())
		return
	}
	p.seq, p.at = m.seq, s.clock.Now()
	s.events.publish(m)
}

// liveEvents answers GET /api/v1/events: a text/event-stream with an
// `overview` event (the viewer's overview as JSON, its id the cycle) at
// once and then for each published cycle in which it changed, and a
// comment every HeartbeatInterval. The token and the viewer's rights are
// checked again at each cycle; the stream ends when they fail.
func (s *Server) liveEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, m, a, ok := s.viewer(w, r)
	if !ok {
		return
	}
	sub, ok := s.events.subscribe()
	if !ok {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("%d viewers follow the live updates already; try again later.", MaxEventClients))
		return
	}
	defer s.events.unsubscribe(sub)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(b []byte) bool {
		_ = rc.SetWriteDeadline(s.clock.Now().Add(eventWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	var last []byte
	var sentAt time.Time
	overview := func(m *model, a *access) bool {
		o := buildOverview(m, a, &s.hist)
		data, key, err := overviewEvent(o)
		if err != nil {
			s.log.Error(err, "encoding a live update")
			return false
		}
		if bytes.Equal(key, last) && s.clock.Since(sentAt) < HistoryRefresh {
			return true
		}
		last, sentAt = key, s.clock.Now()
		return send(data)
	}
	if !overview(m, a) {
		return
	}
	beat := s.clock.NewTicker(HeartbeatInterval)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.dropped:
			s.log.V(2).Info("dropped a live-update viewer who did not keep up")
			return
		case <-beat.C():
			if !send([]byte(": heartbeat\n\n")) {
				return
			}
		case m := <-sub.models:
			caller, err := s.authenticate(r)
			if err != nil {
				return
			}
			a, err := accessOf(ctx, s.auth, caller, m.namespaces)
			if err != nil || !overview(m, a) {
				return
			}
		}
	}
}

// overviewEvent is o as an `overview` event, and the key that tells
// whether it changed: its JSON without the cycle, the time and the
// history, which change every cycle.
func overviewEvent(o Overview) (event, key []byte, err error) {
	data, err := json.Marshal(o)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the overview: %w", err)
	}
	cycle := o.Cycle
	o.Cycle, o.At, o.History = 0, time.Time{}, nil
	if key, err = json.Marshal(o); err != nil {
		return nil, nil, fmt.Errorf("encoding the overview: %w", err)
	}
	return fmt.Appendf(nil, "event: overview\nid: %d\ndata: %s\n\n", cycle, data), key, nil
}
