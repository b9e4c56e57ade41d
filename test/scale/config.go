// Package scale is kubemesos's scale suite: a real control plane (etcd and
// kube-apiserver), N nodes faked by kwok, and on each node a hollow agent:
// the real agent code, many per process, each with its own manager,
// executor API listener (its own loopback address) and work dir, as
// Kubernetes's kubemark runs hollow kubelets. The master runs in the same
// process, built as the kubemesos binary builds it.
//
// A benchmark framework on the scheduler SDK launches short tasks: with a
// custom executor (one executor pod per agent, reused by its tasks, run
// in-process through the executor SDK against the agent's real executor
// API), or as command tasks (a pod per task, which kwok completes). The
// peer runs in the same cluster: the same number of plain pods of the same
// size, placed by a real kube-scheduler on the same kwok nodes and
// completed by kwok after the same duration.
//
// Each run reports its throughput, its latencies and the API writes it
// cost, counted by the API server itself (apiserver_request_total) and
// split by writer with the API server's audit log.
package scale

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kubemesos/kubemesos/agent"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// KwokVersion is the version of kwok that hack/tools.mk builds into
// bin/kwok/<version>.
const KwokVersion = "v0.8.0"

// DurationAnnotation is the annotation whose value (a Go duration) kwok
// waits, once a pod runs, before it marks the pod Succeeded (kwok.yaml).
const DurationAnnotation = "bench.kubemesos.io/duration"

// DurationEnv is the environment variable of a pod's first container
// that does the same for command tasks, whose pods the agent builds from
// the task's command (kwok.yaml).
const DurationEnv = "BENCH_DURATION"

// Config sizes a cluster's nodes and its runs' tasks.
type Config struct {
	// Duration is how long each task and pod runs once it is running.
	Duration time.Duration
	// Workers is how many tasks, and plain pods, are created at a time.
	Workers int
	// Rate, when positive, makes a run's tasks (and plain pods) arrive
	// at this many per second, one after another, instead of all at once
	// (open arrivals): the latency of the mechanism below saturation
	// rather than of a burst's queue. The benchmark framework then holds
	// the offers it has no task for, as a framework expecting work does,
	// and launches each task as it arrives.
	Rate float64
	// MaxPending, when positive, bounds the tasks (plain pods) of a run
	// that are created and not yet TASK_RUNNING (Running) at a time: the
	// benchmark framework holds the offers it cannot use meanwhile and
	// launches on them as its tasks start, and the peer's harness creates
	// a pod only once one of its pending pods runs. A framework that
	// paces its launches to what the cluster starts, as the peer paces
	// its creates: the latency from creation is then the mechanism's at
	// full throughput, not the queue of a burst created at once.
	MaxPending int
	// Kinds are the runs made at each size, in the order of Kinds; empty,
	// all of them.
	Kinds []Kind
	// TaskCPU and TaskMemory are what each task and each plain pod
	// requests; a custom executor requests as much again.
	TaskCPU, TaskMemory resource.Quantity
	// NodeCPU, NodeMemory and NodePods are each kwok node's allocatable.
	NodeCPU, NodeMemory, NodePods resource.Quantity
	// HeartbeatInterval is the agents' Lease renewal period.
	HeartbeatInterval time.Duration
	// ResourceGrowthDelay is the agents' --resource-growth-delay.
	ResourceGrowthDelay time.Duration
	// Timeout bounds one run, so that a broken build ends.
	Timeout time.Duration
	// Kwok and KubeScheduler are the binaries; KwokBin() and
	// KubeSchedulerBin() when empty.
	Kwok, KubeScheduler string
	// WorkDir holds the agents' work dirs, the executors' tokens, the
	// audit log and the processes' logs; a new directory under /dev/shm
	// (or the temporary directory) when empty.
	WorkDir string
	// ProfileDir, when set, receives a CPU profile of kube-apiserver for
	// each run: 30 seconds from 5 seconds into the run, in
	// apiserver-<nodes>-<kind>.pprof.
	ProfileDir string
	// Log receives progress messages.
	Log logr.Logger
}

// DefaultConfig is the configuration of `make bench-scale`.
func DefaultConfig() Config {
	return Config{
		Duration:          time.Second,
		Workers:           16,
		TaskCPU:           resource.MustParse("100m"),
		TaskMemory:        resource.MustParse("64Mi"),
		NodeCPU:           resource.MustParse("8"),
		NodeMemory:        resource.MustParse("32Gi"),
		NodePods:          resource.MustParse("110"),
		HeartbeatInterval: 10 * time.Second,
		// The binary's default, as the agents of a cluster run.
		ResourceGrowthDelay: agent.DefaultResourceGrowthDelay,
		Timeout:             15 * time.Minute,
		Log:                 logr.Discard(),
	}
}

func (c *Config) complete() error {
	var errs []error
	if c.Workers <= 0 {
		errs = append(errs, fmt.Errorf("workers must be positive, got %d", c.Workers))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate must not be negative, got %v", c.Rate))
	}
	if c.MaxPending < 0 {
		errs = append(errs, fmt.Errorf("max pending must not be negative, got %d", c.MaxPending))
	}
	if c.Duration < 0 || c.HeartbeatInterval <= 0 || c.Timeout <= 0 {
		errs = append(errs, errors.New("duration must not be negative; heartbeat interval and timeout must be positive"))
	}
	if c.Kwok == "" {
		c.Kwok = KwokBin()
	}
	if c.KubeScheduler == "" {
		c.KubeScheduler = KubeSchedulerBin()
	}
	for _, b := range []string{c.Kwok, c.KubeScheduler} {
		if _, err := os.Stat(b); err != nil {
			errs = append(errs, fmt.Errorf("%s not found: run `make tools` (make bench-scale and make test build it): %w", b, err))
		}
	}
	if c.Log.GetSink() == nil {
		c.Log = logr.Discard()
	}
	return errors.Join(errs...)
}

// KwokBin is $KWOK_BIN when set (the Makefile sets it), else
// bin/kwok/<KwokVersion>/kwok in the repository.
func KwokBin() string {
	if b := os.Getenv("KWOK_BIN"); b != "" {
		return b
	}
	return filepath.Join(testenv.RepoRoot(), "bin", "kwok", KwokVersion, "kwok")
}

// KubeSchedulerBin is the kube-scheduler built with the control plane.
func KubeSchedulerBin() string { return filepath.Join(testenv.AssetsDir(), "kube-scheduler") }

// arrival is when task (pod) i of a run started at start arrives: start
// itself when every task arrives at once.
func (c *Config) arrival(start time.Time, i int) time.Time {
	if c.Rate <= 0 {
		return start
	}
	return start.Add(time.Duration(float64(i) / c.Rate * float64(time.Second)))
}

// taskRequests is what one task or plain pod requests.
func (c *Config) taskRequests() corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: c.TaskCPU, corev1.ResourceMemory: c.TaskMemory}
}

// nodeAllocatable is each kwok node's allocatable (and capacity).
func (c *Config) nodeAllocatable() corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: c.NodeCPU, corev1.ResourceMemory: c.NodeMemory, corev1.ResourcePods: c.NodePods}
}
