package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/controllers/console"
)

// sseEvent is one event of a stream.
type sseEvent struct {
	name, id string
	overview console.Overview
}

// follow opens GET /api/v1/events on a console with token, and returns
// its overview events as they come; the stream ends with the test.
func follow(t *testing.T, addr, token string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %v", resp.StatusCode, resp.Header)
	}
	out := make(chan sseEvent, 64)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.overview); err != nil {
					ev.name = "bad data: " + err.Error()
				}
			}
		}
	}()
	return out
}

// tasksIn is the number of tasks in o.
func tasksIn(o console.Overview) int {
	n := 0
	for _, c := range o.TasksByState {
		n += c
	}
	return n
}

// checkEvents follows the live updates at addr as a viewer of one
// namespace that has had tasks tasks, calls change, which must add one
// there (and may add others elsewhere), and checks that an event shows
// it and that no event ever counts what the viewer may not read.
func checkEvents(t *testing.T, name, addr, token string, tasks int, change func()) {
	t.Helper()
	events := follow(t, addr, token)
	check := func(ev sseEvent) int {
		if ev.name != "overview" || ev.id == "" || ev.overview.Total != nil || tasksIn(ev.overview) > tasks+1 {
			t.Errorf("%s: event %s id %q: %+v; want an overview with at most %d tasks, no agents", name, ev.name, ev.id, ev.overview, tasks+1)
		}
		return tasksIn(ev.overview)
	}
	select {
	case ev := <-events:
		if n := check(ev); n != tasks {
			t.Errorf("%s: first event counts %d tasks, want %d", name, n, tasks)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no first event", name)
	}
	change()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("%s: the stream ended", name)
			}
			if check(ev) == tasks+1 {
				return
			}
		case <-deadline:
			t.Fatalf("%s: no event showed the new task", name)
		}
	}
}
