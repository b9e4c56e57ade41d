package scale

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
)

// RunPeer is the peer of a framework run: n plain pods of a task's size,
// created cfg.Workers at a time (or each as it arrives, at cfg.Rate; with
// at most cfg.MaxPending created and not yet Running), which
// kube-scheduler places on the kwok nodes and kwok completes cfg.Duration
// after they run.
// Succeeded pods stay, as a Job's do (and a command task's, while its Task
// is kept); the teardown removes them.
func (c *Cluster) RunPeer(ctx context.Context, n int) (*Result, error) {
	if n <= 0 {
		return nil, fmt.Errorf("a run needs pods, got %d", n)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	ns, err := c.newNamespace(ctx, "peer")
	if err != nil {
		return nil, err
	}
	p := &peerRun{arrived: make([]time.Time, n), created: make([]time.Time, n), bound: make([]time.Time, n), running: make([]time.Time, n), finished: make([]time.Time, n),
		holds: make([]bool, n), done: make(chan struct{})}
	if c.cfg.MaxPending > 0 {
		p.slots = make(chan struct{}, c.cfg.MaxPending)
	}
	cs, err := kubernetes.NewForConfig(c.userAgent(userAgentHarness))
	if err != nil {
		return nil, fmt.Errorf("creating a clientset: %w", err)
	}
	reg, err := c.pods.AddEventHandler(toolscache.FilteringResourceEventHandler{
		FilterFunc: func(o any) bool { pod, ok := o.(*corev1.Pod); return ok && pod.Namespace == ns },
		Handler: toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { p.changed(o) },
			UpdateFunc: func(_, o any) { p.changed(o) },
		},
	})
	if err != nil {
		return nil, fmt.Errorf("watching pods: %w", err)
	}
	defer func() { _ = c.pods.RemoveEventHandler(reg) }()

	before, err := c.mark(ctx)
	if err != nil {
		return nil, err
	}
	c.profileAPIServer(ctx, KindPods)
	c.cfg.Log.Info("run started", "kind", KindPods, "nodes", c.Nodes(), "pods", n, "namespace", ns)
	duration := c.cfg.Duration.String()
	start := time.Now()
	err = parallel(ctx, n, c.cfg.Workers, func(i int) error {
		arrival := c.cfg.arrival(start, i)
		select {
		case <-time.After(time.Until(arrival)):
		case <-ctx.Done():
			return ctx.Err()
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: podName(i), Annotations: map[string]string{DurationAnnotation: duration}},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{
				Name: "task", Image: "kubemesos-bench-task", Command: []string{"sleep", duration},
				Resources: corev1.ResourceRequirements{Requests: c.cfg.taskRequests()},
			}}},
		}
		if p.slots != nil {
			select {
			case p.slots <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		p.mu.Lock()
		p.arrived[i], p.created[i] = arrival, time.Now()
		p.holds[i] = true
		p.pending++
		p.peak = max(p.peak, p.pending)
		p.mu.Unlock()
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating pod %s: %w", pod.Name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
	for waiting := true; waiting; {
		select {
		case <-p.done:
			waiting = false
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %d of %d pods Succeeded: %w", KindPods, p.finishedCount(), n, ctx.Err())
		case <-progress.C:
			if err := c.alive(); err != nil {
				return nil, err
			}
			c.cfg.Log.Info("progress", "kind", KindPods, "finished", p.finishedCount(), "of", n)
		}
	}
	res := p.result(c, n)
	res.Namespace = ns
	after, err := c.runWrites(ctx, res, before)
	if err != nil {
		return nil, err
	}
	if res.Teardown, _, err = c.teardown(ctx, ns, after); err != nil {
		return res, err
	}
	return res, nil
}

// podName names plain pod i.
func podName(i int) string { return fmt.Sprintf("pod-%05d", i) }

// podIndex is the i of podName(i), -1 for another name.
func podIndex(name string) int {
	i, err := strconv.Atoi(strings.TrimPrefix(name, "pod-"))
	if err != nil || !strings.HasPrefix(name, "pod-") {
		return -1
	}
	return i
}

// peerRun is what the harness saw of the plain pods.
type peerRun struct {
	mu                                         sync.Mutex
	arrived, created, bound, running, finished []time.Time
	nFinished                                  int
	last                                       time.Time
	done                                       chan struct{}
	// holds marks the pods created and not yet Running (or Succeeded),
	// pending counts them and peak is the most it has been; slots holds a
	// token for each of them, with Config.MaxPending.
	holds         []bool
	pending, peak int
	slots         chan struct{}
}

func (p *peerRun) changed(o any) {
	pod, ok := o.(*corev1.Pod)
	if !ok {
		return
	}
	i := podIndex(pod.Name)
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if i < 0 || i >= len(p.created) {
		return
	}
	if pod.Spec.NodeName != "" && p.bound[i].IsZero() {
		p.bound[i] = now
	}
	if p.holds[i] && (pod.Status.Phase == corev1.PodRunning || pod.Status.Phase == corev1.PodSucceeded) {
		p.holds[i] = false
		p.pending--
		if p.slots != nil {
			<-p.slots
		}
	}
	switch pod.Status.Phase {
	case corev1.PodRunning:
		if p.running[i].IsZero() {
			p.running[i] = now
		}
	case corev1.PodSucceeded:
		if !p.finished[i].IsZero() {
			return
		}
		p.finished[i], p.last = now, now
		p.nFinished++
		if p.nFinished == len(p.finished) {
			close(p.done)
		}
	}
}

func (p *peerRun) finishedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nFinished
}

func (p *peerRun) result(c *Cluster, n int) *Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := &Result{Kind: KindPods, Nodes: c.Nodes(), Tasks: n, Duration: c.cfg.Duration, Finished: p.nFinished, Relaunched: map[string]int{},
		ArrivalRate: c.cfg.Rate, MaxPending: c.cfg.MaxPending, PeakPending: p.peak}
	first := p.created[0]
	for i := range p.created {
		if p.created[i].Before(first) {
			first = p.created[i]
		}
		if p.running[i].IsZero() {
			r.NoRunning++
			continue
		}
		r.Latencies = append(r.Latencies, p.running[i].Sub(p.created[i]))
		if r.ArrivalRate > 0 {
			r.FromArrival = append(r.FromArrival, p.running[i].Sub(p.arrived[i]))
		}
		if !p.bound[i].IsZero() {
			r.Placed = append(r.Placed, p.bound[i].Sub(p.created[i]))
		}
	}
	r.Elapsed = p.last.Sub(first)
	return r
}
