package cli

import (
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kubemesos/kubemesos/controllers/allocator"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers"
	"github.com/kubemesos/kubemesos/controllers/console"
	"github.com/kubemesos/kubemesos/controllers/mesosapi"
	"github.com/kubemesos/kubemesos/internal/httpauth"
	"github.com/kubemesos/kubemesos/internal/leader"
	"github.com/kubemesos/kubemesos/internal/metrics"
	"github.com/kubemesos/kubemesos/internal/restconfig"
	"github.com/kubemesos/kubemesos/internal/scheme"
)

// masterOptions are the flags of `kubemesos master`.
type masterOptions struct {
	metricsAddr    string
	probeAddr      string
	pprofAddr      string
	leaderElect    bool
	leaseNamespace string
	leaseDuration  time.Duration
	renewDeadline  time.Duration
	retryPeriod    time.Duration
	zap            zap.Options

	master       controllers.Options
	removalLimit string
	roleWeights  map[string]string

	mesosAPI mesosapi.Options
	console  console.Options
	// identity names this master in its Lease; with the Mesos API or the
	// console on, it carries their advertised addresses
	// (mesosapi.AdvertisedIdentity, mesosapi.WithConsole).
	identity string
}

func newMasterCommand() *cobra.Command {
	cmd, _ := masterCommand()
	return cmd
}

// masterCommand returns the master command and the options its flags fill.
func masterCommand() (*cobra.Command, *masterOptions) {
	o := &masterOptions{}
	cmd := &cobra.Command{
		Use:   "master",
		Short: "Run the kubemesos master (the controller manager)",
		Long: `Run the kubemesos master: the Mesos master rebuilt as Kubernetes controllers.

Run two or more replicas. They elect a leader through the Lease
"kubemesos-master" in --leader-election-namespace, as Mesos masters do through
ZooKeeper. Only the leader writes, and only while it can be sure it holds the
Lease: every write passes a guard that refuses it once the renew deadline has
passed since the start of the last successful renewal, by a monotonic clock
(so a leader resumed after a pause knows at once). The leader then exits with
code 3, so that its pod restarts it as a standby; the new leader rebuilds its
state from the API server.

The master serves /healthz and /readyz on --health-probe-bind-address and
Prometheus metrics on --metrics-bind-address. With --pprof-bind-address set it
also serves Go's profiles (/debug/pprof/), for example the live heap after a
forced garbage collection at /debug/pprof/heap?gc=1; it is off by default.`,
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
	f.StringVar(&o.pprofAddr, "pprof-bind-address", "0", pprofFlagHelp)
	f.BoolVar(&o.leaderElect, "leader-elect", true, "Elect a leader through the Lease \""+kmv1.MasterLeaseName+"\". Turn off only when a single master runs.")
	f.StringVar(&o.leaseNamespace, "leader-election-namespace", envOr("POD_NAMESPACE", "kubemesos-system"), "Namespace of the master Lease (default: $POD_NAMESPACE, else kubemesos-system).")
	f.DurationVar(&o.leaseDuration, "leader-election-lease-duration", 15*time.Second, "How long standbys wait after the last renewal before they take the Lease.")
	f.DurationVar(&o.renewDeadline, "leader-election-renew-deadline", 10*time.Second, "How long after the start of its last successful renewal the leader may still write; past it, it writes nothing more and exits. Must be shorter than the lease duration: the difference is the time a write in flight has to land before a standby can take over.")
	f.DurationVar(&o.retryPeriod, "leader-election-retry-period", 2*time.Second, "How often candidates try to take or renew the Lease.")

	o.master = controllers.DefaultOptions()
	mo := &o.master
	f.StringVar(&mo.SystemNamespace, "agent-lease-namespace", envOr("POD_NAMESPACE", mo.SystemNamespace), "Namespace of the agents' heartbeat Leases (default: $POD_NAMESPACE, else kubemesos-system).")
	f.DurationVar(&mo.AllocationInterval, "allocation-interval", mo.AllocationInterval, "Period of the allocation cycle; events also trigger one.")
	f.DurationVar(&mo.UsageWriteInterval, "agent-usage-interval", mo.UsageWriteInterval, "Least time between two writes of an Agent's status.allocated and status.offered (kubectl's view of its use; DRF never reads it). With tasks coming and going they change every cycle; 0 writes every change at once, a write per busy agent per cycle.")
	f.Float64Var(&mo.UsageWriteRate, "agent-usage-writes-per-second", mo.UsageWriteRate, "Most writes of Agents' status.allocated and status.offered per second, all agents together, the one written longest ago first, so that they do not grow with the number of busy agents: with many agents each is refreshed about every agents ÷ rate seconds (and never more often than --agent-usage-interval). 0 means no bound.")
	f.DurationVar(&mo.OfferTimeout, "offer-timeout", mo.OfferTimeout, "Rescind offers left unused this long, so that a scheduler that never answers cannot hold every agent; 0 keeps them until used or declined (Mesos's default).")
	f.DurationVar(&mo.AcceptWindow, "offer-accept-window", mo.AcceptWindow, "How long an offer stays usable after its latest task was admitted, so all tasks of one launch land on it as long as each reaches the master within this of the one before, even when a busy API server spreads their creates over seconds; then what they left returns to the pool. A launch whose tasks carry kubemesos.io/launch-tasks (the scheduler SDK and the v1 scheduler API set it) uses the offer up as soon as that many are admitted, and keeps it up to five windows after the latest admission while fewer exist.")
	f.DurationVar(&mo.AgentPingTimeout, "agent-ping-timeout", mo.AgentPingTimeout, "With --max-agent-ping-timeouts: an agent whose Lease is older than their product becomes Unreachable.")
	f.IntVar(&mo.MaxAgentPingTimeouts, "max-agent-ping-timeouts", mo.MaxAgentPingTimeouts, "See --agent-ping-timeout.")
	f.StringVar(&o.removalLimit, "agent-removal-rate-limit", "10/1m", "At most N agents become Unreachable per period, as N/period (e.g. 10/1m); an empty value means no bound.")
	f.StringToStringVar(&o.roleWeights, "role-weights", nil, "DRF weights of roles, as role=weight pairs (e.g. prod=3,dev=1); 1 when absent. A role inherits its parent's weight.")
	f.IntVar(&mo.TerminalTaskLimit, "terminal-task-limit", mo.TerminalTaskLimit, "Terminal tasks kept per framework; older ones are deleted. 0 keeps all.")
	f.DurationVar(&mo.TeardownTimeout, "teardown-timeout", mo.TeardownTimeout, "How long a deleted framework waits for its live tasks and running pods to end before the master removes what is left at once and releases it. Keep it above the tasks' killGracePeriodSeconds.")
	f.DurationVar(&mo.OrphanTaskTTL, "orphan-task-ttl", mo.OrphanTaskTTL, "How long a terminal task whose framework does not exist (never did, or was deleted) is kept before it is deleted. 0 keeps it.")
	o.mesosAPI = mesosapi.DefaultOptions()
	ma := &o.mesosAPI
	f.StringVar(&ma.BindAddress, "mesos-api-bind-address", ma.BindAddress, "Address of the Mesos v1 scheduler HTTP API (POST "+mesosapi.Path+"), served by every replica (standbys redirect to the leader); \"0\" turns it off.")
	f.StringVar(&ma.AdvertiseAddress, "mesos-api-advertise-address", "", "host:port at which frameworks reach this master's Mesos API; standbys redirect to the leader's. Default: $POD_IP (else the host name) and the port of --mesos-api-bind-address. The chart passes the pod IP through the downward API.")
	f.StringVar(&ma.AnonymousNamespace, "mesos-api-anonymous-namespace", "", "UNSAFE on a shared cluster: calls to the Mesos API that carry no credentials act in this namespace as --mesos-api-anonymous-service-account, with what RBAC grants it there (creating Frameworks and Tasks). Without it a call needs a Kubernetes token (Bearer, or the secret of Basic auth) and acts in its ServiceAccount's namespace; without one it is refused with 401.")
	f.StringVar(&ma.AnonymousServiceAccount, "mesos-api-anonymous-service-account", httpauth.DefaultAnonymousServiceAccount, "The ServiceAccount, in --mesos-api-anonymous-namespace, that calls without credentials act as; it needs the rights of a framework there (the chart binds the ClusterRole kubemesos-mesos-framework to it).")
	f.DurationVar(&ma.HeartbeatInterval, "mesos-api-heartbeat-interval", ma.HeartbeatInterval, "How often a Mesos API event stream carries a HEARTBEAT event.")
	f.StringVar(&ma.CommandImage, "mesos-api-command-image", ma.CommandImage, "Container image of a Mesos command task whose TaskInfo names none (a Mesos agent runs such a task on its host); it needs /bin/sh for shell commands.")
	f.Int64Var(&ma.MaxBodyBytes, "mesos-api-max-body-bytes", ma.MaxBodyBytes, "Largest Mesos API call body; a larger one is refused with 413.")
	f.IntVar(&ma.MaxCallsPerNamespace, "mesos-api-max-calls-per-namespace", mesosapi.DefaultMaxCallsPerNamespace, "Mesos API calls of one namespace's frameworks read or handled at once; more wait up to 5s for a place, then get 503 with Retry-After (a stream holds no place).")
	f.IntVar(&ma.MaxConnections, "mesos-api-max-connections", mesosapi.DefaultMaxConnections, "Open connections the Mesos API holds, all callers together (a framework holds two). A connection that sends nothing is not closed for it, as Mesos's master does not; beyond the bound a new connection takes the place of the longest quiet one of the address holding the most, or is closed at once.")
	f.IntVar(&ma.MaxConnectionsPerAddress, "mesos-api-max-connections-per-address", mesosapi.DefaultMaxConnectionsPerAddress, "Open connections the Mesos API holds from one address (one pod; frameworks reached through kubectl port-forward share one); more are closed at once.")
	o.console = console.Options{BindAddress: console.DefaultBindAddress}
	f.StringVar(&o.console.BindAddress, "console-bind-address", o.console.BindAddress, "Address of the read-only web console (JSON API under /api/v1/), served by every replica (standbys pass requests to the leader); viewers authenticate with a Kubernetes token and see only the namespaces they may list frameworks and tasks in. \"0\" turns it off.")
	f.StringVar(&o.console.AdvertiseAddress, "console-advertise-address", "", "host:port at which the other masters reach this master's console, to pass requests to the leader. Default: $POD_IP (else the host name) and the port of --console-bind-address.")
	addZapFlags(cmd, &o.zap)
	return cmd, o
}

// addZapFlags binds the logging flags (--zap-log-level, --zap-devel ...) once.
func addZapFlags(cmd *cobra.Command, o *zap.Options) {
	fs := flag.NewFlagSet("zap", flag.ContinueOnError)
	o.BindFlags(fs)
	cmd.Flags().AddGoFlagSet(fs)
}

// pprofFlagHelp explains --pprof-bind-address, the same for both commands.
const pprofFlagHelp = "Address of Go's profiling endpoints (/debug/pprof/: heap, goroutine, profile ...), for measuring memory and CPU; \"0\" (the default) turns them off. Profiles reveal internals: bind it to a loopback or pod address only."

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// election returns the leader election that the flags ask for, nil when
// it is turned off.
func (o *masterOptions) election() *leader.Election {
	if !o.leaderElect {
		return nil
	}
	return &leader.Election{
		Namespace: o.leaseNamespace, Name: kmv1.MasterLeaseName, Identity: o.identity,
		LeaseDuration: o.leaseDuration, RenewDeadline: o.renewDeadline, RetryPeriod: o.retryPeriod,
		// The Guard has tripped: this process writes nothing more, and
		// exits at once, as a Mesos master aborts when it loses ZooKeeper.
		// Its pod restarts it as a standby.
		OnLost: func() { os.Exit(leader.LostLeaseExitCode) },
	}
}

func validateLeaderElection(o *masterOptions) error {
	if e := o.election(); e != nil {
		if err := e.Validate(); err != nil {
			return fmt.Errorf("--leader-election-lease-duration, --leader-election-renew-deadline, --leader-election-retry-period: %w", err)
		}
	}
	return nil
}

// complete parses the flags that need parsing into o.master.
func (o *masterOptions) complete() error {
	if err := o.completeMesosAPI(); err != nil {
		return err
	}
	if err := o.completeConsole(); err != nil {
		return err
	}
	if err := o.completeIdentity(); err != nil {
		return err
	}
	if err := validateLeaderElection(o); err != nil {
		return err
	}
	n, period, err := parseRate(o.removalLimit)
	if err != nil {
		return fmt.Errorf("--agent-removal-rate-limit: %w", err)
	}
	o.master.AgentRemovalRate, o.master.AgentRemovalPeriod = n, period
	o.master.RoleWeights = map[string]float64{}
	for role, w := range o.roleWeights {
		f, err := allocator.ParseWeight(role, w)
		if err != nil {
			return fmt.Errorf("--role-weights: %w", err)
		}
		o.master.RoleWeights[role] = f
	}
	mo := o.master
	switch {
	case mo.UsageWriteInterval < 0:
		return fmt.Errorf("--agent-usage-interval must not be negative, got %s", mo.UsageWriteInterval)
	case mo.UsageWriteRate < 0 || math.IsNaN(mo.UsageWriteRate) || math.IsInf(mo.UsageWriteRate, 0):
		return fmt.Errorf("--agent-usage-writes-per-second must be a number, 0 or more, got %v (0 means no bound)", mo.UsageWriteRate)
	case mo.AllocationInterval <= 0:
		return fmt.Errorf("--allocation-interval must be positive, got %s", mo.AllocationInterval)
	case mo.AgentPingTimeout <= 0 || mo.MaxAgentPingTimeouts <= 0:
		return fmt.Errorf("--agent-ping-timeout and --max-agent-ping-timeouts must be positive")
	case mo.OfferTimeout < 0 || mo.AcceptWindow < 0 || mo.OrphanTaskTTL < 0 || mo.TeardownTimeout < 0:
		return fmt.Errorf("--offer-timeout, --offer-accept-window, --orphan-task-ttl and --teardown-timeout must not be negative")
	}
	return nil
}

// completeMesosAPI checks the Mesos API flags and names this master
// with its advertised address.
func (o *masterOptions) completeMesosAPI() error {
	ma := &o.mesosAPI
	if !ma.Enabled() {
		return nil
	}
	switch {
	case ma.HeartbeatInterval < time.Second:
		return fmt.Errorf("--mesos-api-heartbeat-interval must be at least 1s, got %s", ma.HeartbeatInterval)
	case ma.MaxBodyBytes <= 0:
		return fmt.Errorf("--mesos-api-max-body-bytes must be positive, got %d", ma.MaxBodyBytes)
	case ma.MaxCallsPerNamespace <= 0:
		return fmt.Errorf("--mesos-api-max-calls-per-namespace must be positive, got %d", ma.MaxCallsPerNamespace)
	case ma.MaxConnections <= 0:
		return fmt.Errorf("--mesos-api-max-connections must be positive, got %d", ma.MaxConnections)
	case ma.MaxConnectionsPerAddress <= 0:
		return fmt.Errorf("--mesos-api-max-connections-per-address must be positive, got %d", ma.MaxConnectionsPerAddress)
	}
	addr, err := advertiseAddress("mesos-api", ma.BindAddress, ma.AdvertiseAddress)
	if err != nil {
		return err
	}
	ma.AdvertiseAddress = addr
	ma.LeaderLease = types.NamespacedName{Namespace: o.leaseNamespace, Name: kmv1.MasterLeaseName}
	return nil
}

// completeConsole checks the console's flags.
func (o *masterOptions) completeConsole() error {
	co := &o.console
	if !co.Enabled() {
		return nil
	}
	addr, err := advertiseAddress("console", co.BindAddress, co.AdvertiseAddress)
	if err != nil {
		return err
	}
	co.AdvertiseAddress = addr
	co.LeaderLease = types.NamespacedName{Namespace: o.leaseNamespace, Name: kmv1.MasterLeaseName}
	return nil
}

// advertiseAddress checks --PREFIX-bind-address and returns
// --PREFIX-advertise-address, by default $POD_IP (else the host name) and
// the bound port.
func advertiseAddress(prefix, bind, advertise string) (string, error) {
	_, port, err := net.SplitHostPort(bind)
	if err != nil {
		return "", fmt.Errorf("--%s-bind-address %q is not host:port: %w", prefix, bind, err)
	}
	if advertise == "" {
		host, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("naming this master: %w", err)
		}
		advertise = net.JoinHostPort(envOr("POD_IP", host), port)
	}
	if _, _, err := net.SplitHostPort(advertise); err != nil {
		return "", fmt.Errorf("--%s-advertise-address %q is not host:port: %w", prefix, advertise, err)
	}
	return advertise, nil
}

// completeIdentity names this master in its Lease with the addresses
// that standbys pass callers on to: the console's, then the Mesos API's.
// With neither on, the election names it.
func (o *masterOptions) completeIdentity() error {
	ma, co := &o.mesosAPI, &o.console
	if !ma.Enabled() && !co.Enabled() {
		return nil
	}
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("naming this master: %w", err)
	}
	base := host + "_" + string(uuid.NewUUID())
	if co.Enabled() {
		base = mesosapi.WithConsole(base, co.AdvertiseAddress)
	}
	if ma.Enabled() {
		o.identity = mesosapi.AdvertisedIdentity(base, ma.AdvertiseAddress)
		ma.MasterID = o.identity
	} else {
		o.identity = base
	}
	return nil
}

// parseRate parses "N/duration", such as "10/1m". An empty string means no
// bound (0, 0).
func parseRate(s string) (int, time.Duration, error) {
	if s == "" {
		return 0, 0, nil
	}
	num, per, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n <= 0 {
		return 0, 0, fmt.Errorf("%q is not N/period with a positive N, such as 10/1m", s)
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return 0, 0, fmt.Errorf("%q is not N/period with a positive period, such as 10/1m", s)
	}
	return n, d, nil
}

func runMaster(o *masterOptions) error {
	if err := o.complete(); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.zap)))
	log := ctrl.Log.WithName("master")

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading the kubeconfig (set --kubeconfig or KUBECONFIG, or run in a pod): %w", err)
	}
	mgr, _, err := leader.NewManager(restconfig.ForCluster(cfg), ctrl.Options{
		Scheme:                 scheme.New(),
		Metrics:                metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress: o.probeAddr,
		PprofBindAddress:       o.pprofAddr,
		Cache:                  controllers.CacheOptions(),
	}, o.election())
	if err != nil {
		return err
	}
	if err := metrics.RegisterMaster(ctrlmetrics.Registry); err != nil {
		return fmt.Errorf("registering the master's metrics: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	master := controllers.New(mgr.GetClient(), clock.RealClock{}, mgr.GetEventRecorder("kubemesos-master"), o.master)
	if err := master.SetupWithManager(ctx, mgr); err != nil {
		return err
	}
	if o.mesosAPI.Enabled() {
		api, err := mesosapi.New(mgr, o.mesosAPI)
		if err != nil {
			return err
		}
		api.ClearFilters = master.ClearFilters
		if err := mgr.Add(api); err != nil {
			return fmt.Errorf("adding the Mesos scheduler API: %w", err)
		}
	}
	if o.console.Enabled() {
		c, err := console.New(mgr, master, o.console)
		if err != nil {
			return err
		}
		if err := mgr.Add(c); err != nil {
			return fmt.Errorf("adding the console: %w", err)
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the ready check: %w", err)
	}
	log.Info("starting the master", "leaderElection", o.leaderElect, "lease", o.leaseNamespace+"/"+kmv1.MasterLeaseName)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("master stopped: %w", err)
	}
	return nil
}
