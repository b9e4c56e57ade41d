package scale

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubemesos/kubemesos/internal/testenv"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/client-go/kubernetes"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Timing sums a histogram: how many observations, and their total in
// seconds.
type Timing struct {
	Count, Seconds float64
}

// Mean is the mean observation in seconds.
func (t Timing) Mean() float64 {
	if t.Count == 0 {
		return 0
	}
	return t.Seconds / t.Count
}

func (t Timing) sub(u Timing) Timing {
	return Timing{Count: t.Count - u.Count, Seconds: t.Seconds - u.Seconds}
}

// Stats say where the time of a run went: the in-process controllers'
// reconciles (the master's, and the agents' summed over all agents, as they
// share their controllers' names) and how long their work waited in
// queue, and the API server's own handling time of each kind of write.
type Stats struct {
	// Reconciles and QueueWait are by controller name.
	Reconciles, QueueWait map[string]Timing
	// Writes are the API server's request durations of writes, by
	// "VERB resource[/subresource]".
	Writes map[string]Timing
	// CPU is the CPU seconds of each process, by program.
	CPU map[string]float64
	// Window is how long the period lasted (since only).
	Window time.Duration
	at     time.Time
}

// readStats reads the controllers' metrics of this process and the API
// server's request durations.
func (c *Cluster) readStats(ctx context.Context) (*Stats, error) {
	s := &Stats{Reconciles: map[string]Timing{}, QueueWait: map[string]Timing{}, Writes: map[string]Timing{}, CPU: testenv.ChildCPU(selfName), at: time.Now()}
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return nil, fmt.Errorf("reading the controllers' metrics: %w", err)
	}
	for _, f := range families {
		switch f.GetName() {
		case "controller_runtime_reconcile_time_seconds":
			addHistograms(s.Reconciles, f, func(l map[string]string) string { return l["controller"] })
		case "workqueue_queue_duration_seconds":
			addHistograms(s.QueueWait, f, func(l map[string]string) string { return l["name"] })
		}
	}
	parsed, err := testenv.ReadMetrics(ctx, c.admin)
	if err != nil {
		return nil, err
	}
	if f := parsed["apiserver_request_duration_seconds"]; f != nil {
		addHistograms(s.Writes, f, func(l map[string]string) string {
			switch l["verb"] {
			case "POST", "PUT", "PATCH", "DELETE", "APPLY":
			default:
				return ""
			}
			r := l["resource"]
			if l["subresource"] != "" {
				r += "/" + l["subresource"]
			}
			return l["verb"] + " " + r
		})
	}
	return s, nil
}

// addHistograms adds each histogram of f to out under key(labels),
// skipping those whose key is "".
func addHistograms(out map[string]Timing, f *dto.MetricFamily, key func(map[string]string) string) {
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		k := key(labels)
		if k == "" || m.GetHistogram() == nil {
			continue
		}
		t := out[k]
		t.Count += float64(m.GetHistogram().GetSampleCount())
		t.Seconds += m.GetHistogram().GetSampleSum()
		out[k] = t
	}
}

// since is what happened between before and s.
func (s *Stats) since(before *Stats) *Stats {
	out := &Stats{Reconciles: map[string]Timing{}, QueueWait: map[string]Timing{}, Writes: map[string]Timing{}, CPU: map[string]float64{},
		Window: s.at.Sub(before.at)}
	for k, v := range s.CPU {
		out.CPU[k] = v - before.CPU[k]
	}
	for _, p := range []struct{ a, b, o map[string]Timing }{
		{s.Reconciles, before.Reconciles, out.Reconciles}, {s.QueueWait, before.QueueWait, out.QueueWait}, {s.Writes, before.Writes, out.Writes},
	} {
		for k, v := range p.a {
			if d := v.sub(p.b[k]); d.Count > 0 {
				p.o[k] = d
			}
		}
	}
	return out
}

// selfName names this process in the CPU figures.
const selfName = "this process (master, agents, executors, framework, harness)"

// profileAPIServer takes a CPU profile of kube-apiserver in the background
// (cfg.ProfileDir), 30 seconds from 5 seconds on, if asked to.
func (c *Cluster) profileAPIServer(ctx context.Context, kind Kind) {
	if c.cfg.ProfileDir == "" {
		return
	}
	path := filepath.Join(c.cfg.ProfileDir, fmt.Sprintf("apiserver-%d-%s.pprof", c.Nodes(), strings.ReplaceAll(string(kind), " ", "-")))
	go func() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
		cs, err := kubernetes.NewForConfig(c.admin)
		if err != nil {
			return
		}
		raw, err := cs.Discovery().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", "30").Timeout(time.Minute).DoRaw(c.ctx)
		if err != nil {
			c.cfg.Log.Error(err, "profiling kube-apiserver")
			return
		}
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			c.cfg.Log.Error(err, "writing kube-apiserver's profile")
			return
		}
		c.cfg.Log.Info("kube-apiserver profiled", "path", path)
	}()
}
