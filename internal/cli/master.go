package cli

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/scheme"
)

// masterOptions are the flags of `kubemesos master`.
type masterOptions struct {
	metricsAddr    string
	probeAddr      string
	leaderElect    bool
	leaseNamespace string
	leaseDuration  time.Duration
	renewDeadline  time.Duration
	retryPeriod    time.Duration
	zap            zap.Options
}

func newMasterCommand() *cobra.Command {
	o := &masterOptions{}
	cmd := &cobra.Command{
		Use:   "master",
		Short: "Run the kubemesos master (the controller manager)",
		Long: `Run the kubemesos master: the Mesos master rebuilt as Kubernetes controllers.

Run two or more replicas. They elect a leader through the Lease
"kubemesos-master" in --leader-election-namespace, as Mesos masters do through
ZooKeeper. Only the leader writes. A leader that loses its Lease exits at once
with a non-zero code, so that its pod restarts as a standby; the new leader
rebuilds its state from the API server.

The master serves /healthz and /readyz on --health-probe-bind-address and
Prometheus metrics on --metrics-bind-address.`,
		Example: `  # Run against the cluster of the current kubeconfig, without leader election:
  kubemesos master --leader-elect=false

  # As the Helm chart runs it:
  kubemesos master --leader-election-namespace=kubemesos-system`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runMaster(o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; \"0\" turns it off.")
	f.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	f.BoolVar(&o.leaderElect, "leader-elect", true, "Elect a leader through the Lease \""+kmv1.MasterLeaseName+"\". Turn off only when a single master runs.")
	f.StringVar(&o.leaseNamespace, "leader-election-namespace", envOr("POD_NAMESPACE", "kubemesos-system"), "Namespace of the master Lease (default: $POD_NAMESPACE, else kubemesos-system).")
	f.DurationVar(&o.leaseDuration, "leader-election-lease-duration", 15*time.Second, "How long standbys wait after the last renewal before they take the Lease.")
	f.DurationVar(&o.renewDeadline, "leader-election-renew-deadline", 10*time.Second, "How long the leader keeps trying to renew before it gives up and exits.")
	f.DurationVar(&o.retryPeriod, "leader-election-retry-period", 2*time.Second, "How often candidates try to take or renew the Lease.")
	addZapFlags(cmd, &o.zap)
	return cmd
}

// addZapFlags binds the logging flags (--zap-log-level, --zap-devel ...) once.
func addZapFlags(cmd *cobra.Command, o *zap.Options) {
	fs := flag.NewFlagSet("zap", flag.ContinueOnError)
	o.BindFlags(fs)
	cmd.Flags().AddGoFlagSet(fs)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func validateLeaderElection(o *masterOptions) error {
	if !o.leaderElect {
		return nil
	}
	if o.leaseDuration <= o.renewDeadline {
		return fmt.Errorf("--leader-election-lease-duration (%s) must be longer than --leader-election-renew-deadline (%s)", o.leaseDuration, o.renewDeadline)
	}
	if o.renewDeadline <= o.retryPeriod {
		return fmt.Errorf("--leader-election-renew-deadline (%s) must be longer than --leader-election-retry-period (%s)", o.renewDeadline, o.retryPeriod)
	}
	return nil
}

func runMaster(o *masterOptions) error {
	if err := validateLeaderElection(o); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.zap)))
	log := ctrl.Log.WithName("master")

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading the kubeconfig (set --kubeconfig or KUBECONFIG, or run in a pod): %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme.New(),
		Metrics:                 metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress:  o.probeAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        kmv1.MasterLeaseName,
		LeaderElectionNamespace: o.leaseNamespace,
		LeaseDuration:           &o.leaseDuration,
		RenewDeadline:           &o.renewDeadline,
		RetryPeriod:             &o.retryPeriod,
	})
	if err != nil {
		return fmt.Errorf("creating the controller manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the ready check: %w", err)
	}
	log.Info("starting the master", "leaderElection", o.leaderElect, "lease", o.leaseNamespace+"/"+kmv1.MasterLeaseName)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		return fmt.Errorf("master stopped: %w", err)
	}
	return nil
}
