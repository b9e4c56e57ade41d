// Command montecarloarea is the MonteCarloArea framework: it computes the
// area under a polynomial curve inside an axis-parallel rectangle, split
// into tasks that kubemesos runs on its agents.
//
//	montecarloarea scheduler   the framework's scheduler (in the pod the master starts)
//	montecarloarea executor    the executor (in the executor pods the agents start)
//	montecarloarea compute     the same computation, locally, without a cluster
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kubemesos/kubemesos/examples/montecarloarea/area"
	"github.com/kubemesos/kubemesos/examples/montecarloarea/framework"
	"github.com/kubemesos/kubemesos/internal/version"
	"github.com/kubemesos/kubemesos/sdk/executor"
	"github.com/kubemesos/kubemesos/sdk/scheduler"

	// Registers --kubeconfig on the Go flag set.
	_ "sigs.k8s.io/controller-runtime/pkg/client/config"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:          "montecarloarea",
		Short:        "The MonteCarloArea framework for kubemesos",
		SilenceUsage: true,
	}
	root.AddCommand(newCompute(), newScheduler(), newExecutor())
	return root
}

func newCompute() *cobra.Command {
	var expr, method string
	var p area.Params
	cmd := &cobra.Command{
		Use:   "compute",
		Short: "Compute the area locally, without a cluster",
		Long: `Compute the area under the curve locally, exactly as the framework does on a
cluster. The output includes "area=<value> under=<count> total=<count>".`,
		Example: `  montecarloarea compute --expression "2x2 + 3x" --x-low 0 --x-high 10 --y-low 0 --y-high 230 --points 1000 --tasks 4`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := area.ParseExpression(expr)
			if err != nil {
				return err
			}
			p.Expr, p.Method = e, method
			r, err := area.Compute(p)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), r.String())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&expr, "expression", "2x2 + 3x", "The curve: terms <coefficient>x<exponent> joined by +, such as \"2x2 + 3x\" or \"-0.5x1.5 + 7\".")
	f.Float64Var(&p.XLow, "x-low", 0, "Left edge of the rectangle.")
	f.Float64Var(&p.XHigh, "x-high", 10, "Right edge of the rectangle.")
	f.Float64Var(&p.YLow, "y-low", 0, "Bottom edge of the rectangle.")
	f.Float64Var(&p.YHigh, "y-high", 230, "Top edge of the rectangle.")
	f.IntVar(&p.Points, "points", 1000, "Grid points per axis (grid), or its square as samples (random).")
	f.IntVar(&p.Tasks, "tasks", 4, "Pieces the work is split into.")
	f.StringVar(&method, "method", "grid", "grid (exact count over a grid) or random (uniform sampling).")
	f.Int64Var(&p.Seed, "seed", 1, "Seed of the random method.")
	return cmd
}

func newScheduler() *cobra.Command {
	var ns, name, image string
	zo := zap.Options{}
	cmd := &cobra.Command{
		Use:   "scheduler",
		Short: "Run the framework's scheduler",
		Long: `Run the MonteCarloArea scheduler against the Framework named by --framework in
--namespace (defaults: $KUBEMESOS_FRAMEWORK and $KUBEMESOS_NAMESPACE, which the
master sets on the scheduler pod). It reads spec.parameters, launches one task
per piece, and completes the framework with the area in status.result.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zo)))
			if name == "" || ns == "" {
				return fmt.Errorf("--framework and --namespace are required (or $KUBEMESOS_FRAMEWORK and $KUBEMESOS_NAMESPACE)")
			}
			cfg, err := ctrl.GetConfig()
			if err != nil {
				return fmt.Errorf("loading the kubeconfig: %w", err)
			}
			s := &framework.Scheduler{DefaultImage: image}
			d, err := scheduler.NewDriver(s, scheduler.Config{RestConfig: cfg, Namespace: ns, Framework: name, Log: ctrl.Log.WithName("scheduler")})
			if err != nil {
				return err
			}
			done := make(chan struct{})
			s.OnDone = func(result string, err error) {
				if err != nil {
					ctrl.Log.Error(err, "MonteCarloArea failed")
				} else {
					ctrl.Log.Info("MonteCarloArea done", "result", result)
				}
				close(done)
			}
			if err := d.Start(); err != nil {
				return err
			}
			// The driver stops by itself when it loses the scheduler Lease
			// (the API server was away past its renew deadline): exit then,
			// and the master starts the scheduler pod again, which fails
			// over to the framework as a new instance.
			stopped := make(chan error, 1)
			go func() { stopped <- d.Join() }()
			select {
			case <-done:
				return d.Stop(true)
			case err := <-stopped:
				if err != nil {
					return fmt.Errorf("the scheduler driver stopped: %w", err)
				}
				return nil
			case <-ctrl.SetupSignalHandler().Done():
				return d.Stop(true)
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "framework", os.Getenv("KUBEMESOS_FRAMEWORK"), "Name of the Framework.")
	f.StringVar(&ns, "namespace", os.Getenv("KUBEMESOS_NAMESPACE"), "Namespace of the Framework.")
	f.StringVar(&image, "executor-image", envOr("KUBEMESOS_EXECUTOR_IMAGE", version.Image), "Image of the executor pods, unless the parameter executorImage names one.")
	fs := goFlags(&zo)
	f.AddGoFlagSet(fs)
	return cmd
}

func newExecutor() *cobra.Command {
	zo := zap.Options{}
	cmd := &cobra.Command{
		Use:   "executor",
		Short: "Run the executor (inside an executor pod)",
		Long: `Run the MonteCarloArea executor. It reads its agent's endpoint and the path of
its token from the environment that the agent sets on executor pods,
subscribes, and counts the pieces it is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zo)))
			cfg, err := executor.ConfigFromEnv()
			if err != nil {
				return err
			}
			cfg.Log = ctrl.Log.WithName("executor")
			return executor.NewDriver(&framework.Executor{}, cfg).Run()
		},
	}
	cmd.Flags().AddGoFlagSet(goFlags(&zo))
	return cmd
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
