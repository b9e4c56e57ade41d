package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/kubemesos/kubemesos/agent/executorapi"
)

// Shape of BenchmarkExecutorStatusUpdates: benchExecutors executors, each
// with benchSenders calls in flight (the executor API takes at most
// MaxCallsPerExecutor = 8 per executor), each task reporting TASK_RUNNING
// and then TASK_FINISHED.
const (
	benchExecutors = 10
	benchSenders   = 4
)

// BenchmarkExecutorStatusUpdates measures how many executor status updates
// per second one agent takes and delivers: the real executor API server
// over loopback HTTP, each update checkpointed (written and fsynced under a
// temporary directory) by the real status update manager before it is
// answered 202, then written to a registry stub that takes every write at
// once (so the figure is the agent's own, not the API server's), and
// acknowledged to its executor on the executor's event stream. An update
// counts once its executor has read the acknowledgement.
//
// The sub-benchmarks set --status-update-delay and --running-update-delay
// both: 0 writes each update; 200ms lets a task's TASK_FINISHED take the
// place of its TASK_RUNNING, one registry write for the two.
func BenchmarkExecutorStatusUpdates(b *testing.B) {
	for _, delay := range []time.Duration{0, 200 * time.Millisecond} {
		b.Run(fmt.Sprintf("delay=%s", delay), func(b *testing.B) { benchStatusUpdates(b, delay) })
	}
}

func benchStatusUpdates(b *testing.B, delay time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var writes atomic.Int64
	su := NewStatusUpdates(b.TempDir(), func(context.Context, Update) error {
		writes.Add(1)
		return nil
	}, nil, clock.RealClock{}, logr.Discard())
	su.delay, su.runningDelay = delay, delay
	srv := &ExecutorServer{Hooks: &floodHooks{updates: su}, Log: logr.Discard(), Clock: clock.RealClock{}}
	su.ack = func(_ context.Context, u Update) {
		srv.Send(ExecutorKey{Namespace: u.Task.Namespace, Framework: u.Framework, ExecutorID: u.ExecutorID},
			executorapi.Event{Type: executorapi.EventAcknowledged, Acknowledged: &executorapi.Acknowledged{TaskID: u.Task.Name, UUID: u.UUID}})
	}
	go su.Run(ctx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	addr := ln.Addr().String()

	// Each executor subscribes from an address of its own, as a pod has,
	// and counts the acknowledgements on its stream.
	var acked atomic.Int64
	var streams sync.WaitGroup
	clients := make([]*floodClient, benchExecutors)
	for e := range benchExecutors {
		clients[e] = newFloodClient(addr, fmt.Sprintf("127.0.1.%d", e+1))
		body, _ := json.Marshal(executorapi.Call{Type: executorapi.CallSubscribe, Namespace: "ns", Framework: "fw", ExecutorID: fmt.Sprint(e)})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+executorapi.Path, strings.NewReader(string(body)))
		req.Header.Set("Authorization", fmt.Sprintf("Bearer exec-%d", e))
		resp, err := clients[e].c.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("SUBSCRIBE of executor %d: %v %v", e, err, resp)
		}
		streams.Add(1)
		go func() {
			defer streams.Done()
			defer resp.Body.Close()
			rr := executorapi.NewRecordReader(resp.Body)
			for {
				var ev executorapi.Event
				if err := rr.Read(&ev); err != nil {
					return
				}
				if ev.Type == executorapi.EventAcknowledged {
					acked.Add(1)
				}
			}
		}()
	}

	// b.N updates: task k of an executor gets update 2k (TASK_RUNNING) and
	// 2k+1 (TASK_FINISHED), in order, from one sender.
	var refused, slowed atomic.Int64
	var sent sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for e := range benchExecutors {
		for s := range benchSenders {
			sent.Add(1)
			go func() {
				defer sent.Done()
				lane := e*benchSenders + s
				for i := lane * 2; i < b.N; i += benchExecutors * benchSenders * 2 {
					for j := i; j < min(i+2, b.N); j++ {
						state := "TASK_RUNNING"
						if j%2 == 1 {
							state = "TASK_FINISHED"
						}
						call, _ := json.Marshal(executorapi.Call{Type: executorapi.CallUpdate, Namespace: "ns", Framework: "fw", ExecutorID: fmt.Sprint(e),
							Update: &executorapi.UpdateCall{Status: executorapi.TaskStatus{TaskID: fmt.Sprintf("t-%d", i/2), State: state, UUID: fmt.Sprint("u-", j)}}})
						for {
							code := clients[e].post(fmt.Sprintf("exec-%d", e), strings.NewReader(string(call)), int64(len(call)))
							if code == http.StatusAccepted {
								break
							}
							if code != http.StatusTooManyRequests && code != http.StatusServiceUnavailable {
								refused.Add(1)
								break
							}
							slowed.Add(1) // as the SDK does: keep it, send it again
							time.Sleep(5 * time.Millisecond)
						}
					}
				}
			}()
		}
	}
	sent.Wait()
	for acked.Load() < int64(b.N)-refused.Load() {
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("%d of %d updates acknowledged after 5 minutes", acked.Load(), b.N)
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if refused.Load() > 0 {
		b.Fatalf("%d updates refused", refused.Load())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "updates/s")
	b.ReportMetric(float64(writes.Load())/float64(b.N), "writes/update")
	b.ReportMetric(float64(slowed.Load())/float64(b.N), "429s/update")
	cancel()
	if err := <-served; err != nil {
		b.Fatal(err)
	}
	streams.Wait()
}
