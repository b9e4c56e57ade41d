// Command master measures the kubemesos master as a whole at scale, on a
// control plane that internal/testenv starts (etcd and kube-apiserver from
// bin/, the kubemesos CRDs installed):
//
//   - the API server's own write rate for a tiny object (a ConfigMap of one
//     key, created and updated by a few client goroutines), against which
//     every other figure is read;
//   - the watch fan-out: what one Task status write and one Event cost the
//     API server with hundreds of idle watches open, as that many agents
//     hold theirs;
//   - P5: failover with thousands of agents and live Tasks: two master
//     processes, the leader killed (SIGKILL), and the time until the standby
//     holds the Lease, makes its first offer, and has given every framework
//     an offer;
//   - P4: the master's memory (RSS, and the Go heap after a forced GC) with
//     thousands of agents and tens of thousands of Tasks;
//   - one agent's memory with 1,000 tasks, its executors run in this process
//     through the executor SDK.
//
// The master and the agent run as their own processes (bin/kubemesos, built
// by `make build`). The agents of P4 and P5 are fake: Node, Agent (admitted,
// with resources) and heartbeat Lease objects, the Leases renewed by a pump
// here; the frameworks' schedulers are their Leases, also held here. Tasks
// are written with their status already set, before the master that is
// measured starts, so that admission never sees them pending.
//
// It prints markdown tables with the machine, the date and the command.
// Speed and memory are measured here, never asserted.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/kubemesos/kubemesos/internal/testenv"
)

// config is what the flags set.
type config struct {
	kubemesos string
	out       string
	phases    map[string]bool

	// The API server's write rate.
	writeClients  []int
	writeDuration time.Duration
	// fanoutWatches are the numbers of idle watches, held as that many
	// agents hold theirs, with which Task status writes and Events are
	// measured.
	fanoutWatches []int

	// P4.
	memAgents     []int
	memTasks      []int
	endedFraction float64
	frameworks    int
	settle        time.Duration

	// P5.
	failAgents  int
	failTasks   int
	shortReps   int
	defaultReps int

	// The agent.
	agentTasks     int
	agentExecutors int
	// agentWriters is the agent's --status-update-writers; 0 leaves its
	// default.
	agentWriters int

	// masterEnv is added to the masters' environment (GOGC=50, …).
	masterEnv []string

	// agentPing is the master's --agent-ping-timeout; the pump renews
	// every agent Lease once per pumpPeriod.
	agentPing  time.Duration
	pumpPeriod time.Duration
}

func parseFlags(args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("bench-master", flag.ContinueOnError)
	fs.StringVar(&c.kubemesos, "kubemesos", filepath.Join(testenv.RepoRoot(), "bin", "kubemesos"), "The kubemesos binary (make build).")
	fs.StringVar(&c.out, "out", "", "Directory for the processes' logs, heap profiles and results.md (default: a new temporary directory).")
	phases := fs.String("phases", "api,failover,memory,agent", "Which measurements to run, comma-separated: api, failover, memory, agent.")
	writeClients := fs.String("write-clients", "1,4,16", "Client goroutines of the API server write measurement, comma-separated.")
	fs.DurationVar(&c.writeDuration, "write-duration", 8*time.Second, "How long each create and each update run of the write measurement lasts.")
	fanoutWatches := fs.String("fanout-watches", "0,250,1000", "Idle watches of the watch fan-out measurement, comma-separated, ascending; each is one agent's watch of the Tasks on its node and one of the scheduler messages to it.")
	memAgents := fs.String("memory-agents", "1000,5000", "P4: agent counts, comma-separated, ascending.")
	memTasks := fs.String("memory-tasks", "0,10000", "P4: Task counts (live and ended together), comma-separated, ascending (the issue's figure: 0,10000,50000).")
	fs.Float64Var(&c.endedFraction, "ended-fraction", 0.1, "P4: the share of the Tasks that have ended (FINISHED, FAILED, KILLED); the rest are RUNNING.")
	fs.IntVar(&c.frameworks, "frameworks", 10, "P4 and P5: frameworks, each in its own namespace, its scheduler Lease held by this runner (in P5 suppressed before each kill and revived at it).")
	fs.DurationVar(&c.settle, "settle", 15*time.Second, "P4: how long the master runs after its state is complete before its memory is read.")
	fs.IntVar(&c.failAgents, "failover-agents", 1000, "P5: agents.")
	fs.IntVar(&c.failTasks, "failover-tasks", 10000, "P5: live (RUNNING) Tasks.")
	fs.IntVar(&c.shortReps, "failover-reps", 5, "P5: repetitions with short leader election settings (4s lease, 3s renew deadline, 1s retry).")
	fs.IntVar(&c.defaultReps, "failover-default-reps", 3, "P5: repetitions with the default settings (15s lease, 10s renew deadline, 2s retry).")
	fs.IntVar(&c.agentTasks, "agent-tasks", 1000, "The agent: RUNNING tasks on the one agent process.")
	fs.IntVar(&c.agentExecutors, "agent-executors", 10, "The agent: custom executors that run them (one pod each).")
	fs.IntVar(&c.agentWriters, "agent-status-update-writers", 0, "The agent: its --status-update-writers, how many tasks' status updates it writes at once (0: its default).")
	fs.DurationVar(&c.agentPing, "agent-ping-timeout", time.Minute, "The masters' --agent-ping-timeout (× 5 before an agent is Unreachable).")
	fs.DurationVar(&c.pumpPeriod, "pump-period", 2*time.Minute, "How often the pump renews each fake agent's Lease (spread evenly).")
	masterEnv := fs.String("master-env", "", "Variables added to the masters' environment, comma-separated, such as GOMEMLIMIT=400MiB.")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var err error
	if c.writeClients, err = parseInts(*writeClients); err != nil {
		return nil, fmt.Errorf("-write-clients: %w", err)
	}
	if c.fanoutWatches, err = parseInts(*fanoutWatches); err != nil {
		return nil, fmt.Errorf("-fanout-watches: %w", err)
	}
	if c.memAgents, err = parseInts(*memAgents); err != nil {
		return nil, fmt.Errorf("-memory-agents: %w", err)
	}
	if c.memTasks, err = parseInts(*memTasks); err != nil {
		return nil, fmt.Errorf("-memory-tasks: %w", err)
	}
	for _, kv := range strings.Split(*masterEnv, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("-master-env: %q is not NAME=value", kv)
		}
		c.masterEnv = append(c.masterEnv, kv)
	}
	c.phases = map[string]bool{}
	for _, p := range strings.Split(*phases, ",") {
		switch p = strings.TrimSpace(p); p {
		case "api", "failover", "memory", "agent":
			c.phases[p] = true
		case "":
		default:
			return nil, fmt.Errorf("-phases: unknown phase %q (want api, failover, memory, agent)", p)
		}
	}
	if c.endedFraction < 0 || c.endedFraction > 1 {
		return nil, fmt.Errorf("-ended-fraction %v is not between 0 and 1", c.endedFraction)
	}
	if c.agentWriters < 0 {
		return nil, fmt.Errorf("-agent-status-update-writers must not be negative")
	}
	if c.frameworks < 1 || c.agentExecutors < 1 {
		return nil, fmt.Errorf("-frameworks and -agent-executors must be at least 1")
	}
	if c.pumpPeriod >= 5*c.agentPing {
		return nil, fmt.Errorf("-pump-period %s must be shorter than 5 × -agent-ping-timeout (%s)", c.pumpPeriod, 5*c.agentPing)
	}
	return c, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctrl.SetLogger(logr.Discard())
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench-master:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg *config) error {
	if _, err := os.Stat(cfg.kubemesos); err != nil {
		return fmt.Errorf("the kubemesos binary: run `make build` first: %w", err)
	}
	if cfg.out == "" {
		d, err := os.MkdirTemp("", "bench-master-")
		if err != nil {
			return fmt.Errorf("creating the output directory: %w", err)
		}
		cfg.out = d
	} else if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return fmt.Errorf("creating the output directory: %w", err)
	}
	rep := newReport(cfg.out)
	rep.header(os.Args)
	logf("control plane: starting etcd and kube-apiserver (logs, profiles and results under %s)", cfg.out)
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer func() {
		if err := env.Stop(); err != nil {
			logf("stopping the control plane: %v", err)
		}
	}()
	b, err := newBench(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer b.stop()

	if cfg.phases["api"] {
		rows, err := b.apiWrites(ctx)
		if err != nil {
			return fmt.Errorf("the API server's write rate: %w", err)
		}
		rep.apiWrites(rows, cfg)
		fan, err := b.watchFanout(ctx)
		if err != nil {
			return fmt.Errorf("the watch fan-out: %w", err)
		}
		rep.watchFanout(fan, cfg)
	}
	if cfg.phases["failover"] {
		rows, err := b.failover(ctx)
		if err != nil {
			return fmt.Errorf("failover: %w", err)
		}
		rep.failover(rows, cfg)
	}
	if cfg.phases["memory"] {
		rows, err := b.memory(ctx)
		if err != nil {
			return fmt.Errorf("the master's memory: %w", err)
		}
		rep.memory(rows, cfg)
	}
	if cfg.phases["agent"] {
		row, err := b.agentMemory(ctx)
		if err != nil {
			return fmt.Errorf("the agent's memory: %w", err)
		}
		rep.agent(row, cfg)
	}
	return rep.close()
}

// logf prints progress on stderr; the tables go to stdout.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
