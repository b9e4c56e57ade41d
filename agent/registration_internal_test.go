package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kubemesos/kubemesos/internal/scheme"
)

// TestStoppingAgentLogsNoError: a beat whose requests the agent's stop
// cancels is not reported as a failure (a thousand hollow agents logged
// "renewing the heartbeat Lease ... context canceled" with a stack trace
// each at the end of every scale run), while a failed beat of a running
// agent still is.
func TestStoppingAgentLogsNoError(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stopping bool
		want     int
	}{
		{name: "stopping", stopping: true, want: 0},
		{name: "running", stopping: false, want: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			logged := make(chan string, 10)
			fail := func(context.Context) error {
				if tc.stopping {
					cancel()
					return context.Canceled
				}
				return errors.New("the API server is unavailable")
			}
			c := fake.NewClientBuilder().WithScheme(scheme.New()).WithInterceptorFuncs(interceptor.Funcs{
				Get: func(ctx context.Context, _ client.WithWatch, _ client.ObjectKey, _ client.Object, _ ...client.GetOption) error {
					return fail(ctx)
				},
			}).Build()
			clk := clocktesting.NewFakeClock(time.Now())
			sink := funcr.New(func(string, string) {}, funcr.Options{}).GetSink()
			r := &registration{
				registrar: &Registrar{Client: c, Clock: clk, NodeName: "n", LeaseNamespace: "kubemesos-system", Interval: time.Second},
				client:    c, clock: clk, id: &identity{},
				log: logr.New(&errorChan{LogSink: sink, c: logged}),
			}
			done := make(chan struct{})
			go func() { defer close(done); r.run(ctx) }()
			var errs []string
			if !tc.stopping {
				// One beat's three steps fail: wait for their reports,
				// then stop.
				for range tc.want {
					select {
					case e := <-logged:
						errs = append(errs, e)
					case <-time.After(10 * time.Second):
						t.Fatalf("logged %q, want %d errors", errs, tc.want)
					}
				}
				cancel()
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the registration loop did not end with its context")
			}
			close(logged)
			for e := range logged {
				errs = append(errs, e)
			}
			if len(errs) != tc.want {
				t.Errorf("logged %d errors %q, want %d", len(errs), errs, tc.want)
			}
		})
	}
}

// errorChan sends the messages logged as errors to c.
type errorChan struct {
	logr.LogSink
	c chan<- string
}

func (s *errorChan) Error(err error, msg string, _ ...any) { s.c <- msg + ": " + err.Error() }
