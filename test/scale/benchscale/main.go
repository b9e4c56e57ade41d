// Command benchscale is `make bench-scale`: kubemesos against kube-scheduler
// on kwok nodes with hollow agents (package test/scale). It grows one
// cluster through the sizes of -nodes, runs custom-executor tasks, command
// tasks and plain pods at each, prints the tables (Markdown) and writes
// the plot of throughput and p99 latency against the number of nodes.
//
// Speed is measured here, never asserted: nothing fails because the
// machine is slow.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kubemesos/kubemesos/test/scale"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := scale.DefaultConfig()
	nodes := flag.String("nodes", "100,300,1000", "Cluster sizes (kwok nodes, one hollow agent each), comma-separated, smallest first; one cluster grows through them.")
	tasks := flag.Int("tasks", 1000, "Tasks (and plain pods) per run, at every size. Issue 12's P2 is -nodes 1000 -tasks 10000.")
	perNode := flag.Int("tasks-per-node", 0, "When positive, each run launches this many tasks (and pods) per node instead of -tasks.")
	flag.DurationVar(&cfg.Duration, "duration", cfg.Duration, "How long each task and pod runs.")
	flag.IntVar(&cfg.Workers, "workers", cfg.Workers, "Tasks (and pods) created at a time.")
	flag.Float64Var(&cfg.Rate, "rate", 0, "When positive, each run's tasks (and pods) arrive one after another at this many per second instead of all at once, and the tables add their latency from arrival: the mechanism's latency below saturation rather than a burst's queue.")
	flag.IntVar(&cfg.MaxPending, "max-pending", 0, "When positive, at most this many tasks (and pods) of a run are created and not yet running at a time: the framework holds the offers it cannot use meanwhile, and the harness waits to create more pods, so that the latency from creation is the mechanism's at full throughput rather than a burst's queue. 0: no bound.")
	flag.DurationVar(&cfg.HeartbeatInterval, "heartbeat-interval", cfg.HeartbeatInterval, "The agents' heartbeat Lease period.")
	flag.DurationVar(&cfg.ResourceGrowthDelay, "resource-growth-delay", cfg.ResourceGrowthDelay, "The agents' --resource-growth-delay: how long resources that other pods of a node gave back wait to be written into its Agent.")
	flag.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "Bound of each run and of each wait, so that a broken build ends.")
	runs := flag.String("runs", "", "The runs at each size, comma-separated among \"custom executors\", \"command tasks\" and \"plain pods\" (or executors, command, pods); empty: all three.")
	idle := flag.Duration("idle", 20*time.Second, "How long the idle cluster is watched after each size's runs (0: not).")
	svg := flag.String("svg", "docs/images/scale.svg", "Where to write the plot (empty: nowhere).")
	md := flag.String("markdown", "", "Also write the tables to this file.")
	cpuProfile := flag.String("cpuprofile", "", "Write a CPU profile of this process (the master, the agents, the executors and the harness) to this file.")
	flag.StringVar(&cfg.ProfileDir, "apiserver-profiles", "", "Write a 30 s CPU profile of kube-apiserver for each run into this directory.")
	keep := flag.Bool("keep", false, "Keep the work dir (logs, audit log) at the end.")
	verbose := flag.Bool("v", false, "Log the master's and agents' info messages (errors are always logged).")
	flag.Parse()

	var sizes []int
	for _, f := range strings.Split(*nodes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 || (len(sizes) > 0 && n <= sizes[len(sizes)-1]) {
			return fmt.Errorf("-nodes %q: want positive numbers, smallest first", *nodes)
		}
		sizes = append(sizes, n)
	}
	if *tasks <= 0 || *perNode < 0 {
		return errors.New("-tasks must be positive and -tasks-per-node not negative")
	}
	for _, f := range strings.Split(*runs, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		k, ok := map[string]scale.Kind{"executors": scale.KindExecutor, "command": scale.KindCommand, "pods": scale.KindPods}[f]
		if !ok && slices.Contains(scale.Kinds, scale.Kind(f)) {
			k, ok = scale.Kind(f), true
		}
		if !ok {
			return fmt.Errorf("-runs %q: unknown run %q", *runs, f)
		}
		cfg.Kinds = append(cfg.Kinds, k)
	}
	tasksAt := func(int) int { return *tasks }
	if *perNode > 0 {
		tasksAt = func(n int) int { return n * *perNode }
	}
	level := zapcore.ErrorLevel
	if *verbose {
		level = zapcore.InfoLevel
	}
	ctrl.SetLogger(zap.New(zap.Level(level), zap.WriteTo(os.Stderr)))
	cfg.Log = zap.New(zap.Level(zapcore.InfoLevel), zap.WriteTo(os.Stderr)).WithName("bench-scale")
	if *keep {
		dir, err := os.MkdirTemp(shm(), "kubemesos-scale-")
		if err != nil {
			return err
		}
		cfg.WorkDir = dir
		cfg.Log.Info("work dir kept", "dir", dir)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	c, err := scale.StartCluster(cfg)
	if err != nil {
		return err
	}
	defer c.Stop()
	report := &scale.Report{Machine: scale.Machine(), Date: start, Command: "make bench-scale BENCH_SCALE_FLAGS='" + strings.Join(os.Args[1:], " ") + "'"}
	if len(os.Args) == 1 {
		report.Command = "make bench-scale"
	}
	sized, runErr := c.Run(ctx, sizes, tasksAt, *idle, func(s *scale.Size) {
		cfg.Log.Info("size done", "nodes", s.Nodes, "elapsed", time.Since(start).Round(time.Second))
	})
	report.Sizes, report.Took = sized, time.Since(start)
	report.Markdown(os.Stdout)
	if *md != "" {
		f, err := os.Create(*md)
		if err != nil {
			return err
		}
		report.Markdown(f)
		if err := f.Close(); err != nil {
			return err
		}
	}
	if *svg != "" && len(sized) > 0 {
		if err := os.MkdirAll(filepath.Dir(*svg), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(*svg, report.SVG(), 0o644); err != nil {
			return fmt.Errorf("writing the plot: %w", err)
		}
		cfg.Log.Info("plot written", "path", *svg)
	}
	return runErr
}

// shm is /dev/shm when there is one, else the temporary directory.
func shm() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return ""
}
