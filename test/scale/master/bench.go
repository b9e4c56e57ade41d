package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubemesos/kubemesos/internal/scheme"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// bench is one run: the control plane, a client with no client-side rate
// limit, the fake world, the heartbeat pump and the processes started.
type bench struct {
	cfg        *config
	env        *testenv.Env
	rest       *rest.Config
	c          client.WithWatch
	kubeconfig string
	world      *world

	stopPump func()
	// mu guards procs and ports.
	mu    sync.Mutex
	procs []*proc
	// ports are the loopback addresses freePort handed out.
	ports map[string]bool
}

func newBench(ctx context.Context, env *testenv.Env, cfg *config) (*bench, error) {
	rc := rest.CopyConfig(env.Config)
	// The runner measures the API server, not client-go's rate limiter.
	rc.QPS, rc.Burst = 100000, 100000
	c, err := client.NewWithWatch(rc, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, fmt.Errorf("creating a client: %w", err)
	}
	kc := filepath.Join(cfg.out, "kubeconfig")
	if err := env.WriteKubeconfig(kc); err != nil {
		return nil, fmt.Errorf("writing the kubeconfig: %w", err)
	}
	bn := &bench{cfg: cfg, env: env, rest: rc, c: c, kubeconfig: kc, world: &world{c: c}}
	pumpCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); bn.pump(pumpCtx) }()
	bn.stopPump = func() { cancel(); <-done }
	return bn, nil
}

// stop kills every process still running and stops the pump.
func (bn *bench) stop() {
	bn.mu.Lock()
	procs := bn.procs
	bn.mu.Unlock()
	for _, p := range procs {
		p.kill()
	}
	bn.stopPump()
}

// schedulerRenewal is how often the pump renews the scheduler Leases.
const schedulerRenewal = 10 * time.Second

// pump renews the fake agents' heartbeat Leases, each once per
// cfg.pumpPeriod, spread evenly over it, and the frameworks' scheduler
// Leases every schedulerRenewal.
func (bn *bench) pump(ctx context.Context) {
	next, lastSched := 0, time.Now()
	for ctx.Err() == nil {
		n := bn.world.agentCount()
		wait := time.Second
		if n > 0 {
			wait = bn.cfg.pumpPeriod / time.Duration(n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if n > 0 {
			if next >= n {
				next = 0
			}
			if err := bn.world.renewAgent(ctx, next); err != nil && ctx.Err() == nil {
				logf("pump: %v", err)
			}
			next++
		}
		if time.Since(lastSched) >= schedulerRenewal {
			lastSched = time.Now()
			if err := bn.world.renewSchedulers(ctx); err != nil && ctx.Err() == nil {
				logf("pump: %v", err)
			}
		}
	}
}

// ensureAgents grows the world's agents to n.
func (bn *bench) ensureAgents(ctx context.Context, n int) error {
	logf("world: %d agents (Node, admitted Agent, heartbeat Lease each)", n)
	start := time.Now()
	err := bn.world.ensureAgents(ctx, n)
	logf("world: %d agents ready in %s", bn.world.agentCount(), time.Since(start).Round(time.Second))
	return err
}

// ensureTasks sets the world's live and ended Tasks.
func (bn *bench) ensureTasks(ctx context.Context, live, ended int) error {
	logf("world: %d live and %d ended Tasks (had %d and %d)", live, ended, bn.world.live, bn.world.ended)
	start := time.Now()
	err := bn.world.ensureTasks(ctx, live, ended)
	logf("world: Tasks ready in %s", time.Since(start).Round(time.Second))
	return err
}
