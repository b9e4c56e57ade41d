package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubemesos/kubemesos/agent"
	"github.com/kubemesos/kubemesos/internal/metrics"
	"github.com/kubemesos/kubemesos/internal/portrange"
	"github.com/kubemesos/kubemesos/internal/restconfig"
	"github.com/kubemesos/kubemesos/internal/scheme"
)

// DefaultAgentPorts is what an agent offers as ports unless --ports says
// otherwise: a Mesos agent's default.
const DefaultAgentPorts = "[31000-32000]"

// agentOptions are the flags of `kubemesos agent`.
type agentOptions struct {
	nodeName            string
	advertiseAddress    string
	bindAddress         string
	registrationTimeout time.Duration
	statusUpdateDelay   time.Duration
	resourceGrowthDelay time.Duration
	runningUpdateDelay  time.Duration
	statusUpdateWriters int
	port                int
	workDir             string
	leaseNamespace      string
	heartbeatInterval   time.Duration
	metricsAddr         string
	probeAddr           string
	pprofAddr           string
	offerTolerations    string
	tolerations         []corev1.Toleration
	ports               string
	portSet             portrange.Set
	anonymous           string
	anonymousNamespaces []string
	zap                 zap.Options
}

func newAgentCommand() *cobra.Command { return agentCommand(&agentOptions{}) }

// agentCommand is `kubemesos agent`, its flags parsed into o.
func agentCommand(o *agentOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent --node-name NODE",
		Short: "Run the kubemesos agent on one node",
		Long: `Run the kubemesos agent: the Mesos agent of one node, run by a DaemonSet.

The agent writes the Agent object named after its node: the node's allocatable
resources minus what the node's other pods request, its labels as attributes,
and the executor API endpoint. It renews the heartbeat Lease
"kubemesos-agent-<node>" every --heartbeat-interval; the master marks the agent
Unreachable when the Lease goes stale.

For the tasks that the master places on its node it launches executor pods
(spec.nodeName set, no kube-scheduler): one pod per command task, one pod per
custom executor, reused by its later tasks. Executors talk to the agent over
the executor API (POST /api/v1/executor on --port). Each executor pod gets a
service account token bound to it, for the audience "kubemesos.io/executor",
which the kubelet mounts and renews; the agent has the API server verify it
(TokenReview) and accepts it only from the pod it launched for that executor.
An executor that cannot send the token (a third-party Mesos executor library)
can call without it only in a namespace that --executor-api-anonymous-namespaces
opts in, and only from the address of its own running pod.
Status updates are checkpointed under --work-dir and written to the Task status
in order, so a restarted agent loses none.

Its caches hold only its own node's objects (field selectors), so an agent's
cost does not grow with the cluster.`,
		Example: `  # As the DaemonSet runs it, with the node name from the downward API:
  kubemesos agent --node-name=$(NODE_NAME) --advertise-address=$(HOST_IP)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAgent(o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.nodeName, "node-name", envOr("NODE_NAME", ""), "Name of this agent's node (default: $NODE_NAME). Required.")
	f.StringVar(&o.advertiseAddress, "advertise-address", envOr("HOST_IP", "127.0.0.1"), "Address that executors use to reach the executor API (default: $HOST_IP).")
	f.StringVar(&o.bindAddress, "bind-address", "0.0.0.0", "Address the executor API listens on.")
	f.IntVar(&o.port, "port", 5051, "Port of the executor API, as in Mesos.")
	f.DurationVar(&o.registrationTimeout, "executor-registration-timeout", time.Minute, "How long an executor pod may take to subscribe before its tasks fail (Mesos 1m), and how long an executor that had subscribed may go without a subscription (after an agent restart, or when its stream ends) before its tasks, running or staged meanwhile, fail.")
	f.StringVar(&o.workDir, "work-dir", "/var/lib/kubemesos", "Directory for the agent's checkpoints (a hostPath in the chart).")
	f.StringVar(&o.leaseNamespace, "lease-namespace", envOr("POD_NAMESPACE", "kubemesos-system"), "Namespace of the heartbeat Lease (default: $POD_NAMESPACE, else kubemesos-system).")
	f.DurationVar(&o.statusUpdateDelay, "status-update-delay", agent.DefaultStatusUpdateDelay, "How long a non-terminal task status update other than a task's first TASK_RUNNING waits before it is written, so that the task's next update takes its place: a TASK_STARTING waits for its TASK_RUNNING, a TASK_KILLING for its terminal state, and a running task's health and data changes are written at most once per delay. Terminal updates are written at once. 0 writes every update at once.")
	f.DurationVar(&o.runningUpdateDelay, "running-update-delay", 0, "How long a task's first TASK_RUNNING waits before it is written. 0 writes it at once, as soon as the executor sends it: it is what frameworks and kubectl get wait for. Longer makes a task that ends within it cost one status write, not two (its terminal update takes the place of its TASK_RUNNING, and status.startTime still says when it started), for clusters of tasks that last less than a second where API writes count for more than the latency to TASK_RUNNING.")
	f.IntVar(&o.statusUpdateWriters, "status-update-writers", agent.DefaultStatusUpdateWriters, "How many tasks' status updates are written into the API server at once. Each task's own updates are still written one at a time, in order; more writers let a node whose tasks change state quickly keep up with them, at the cost of more concurrent requests to the API server.")
	f.DurationVar(&o.heartbeatInterval, "heartbeat-interval", 5*time.Second, "How often the heartbeat Lease is renewed. Keep it well under the master's --agent-ping-timeout.")
	f.DurationVar(&o.resourceGrowthDelay, "resource-growth-delay", agent.DefaultResourceGrowthDelay, "How long after the Agent spec's last write the node's resources wait to be written when they only grew (other pods of the node ended); they are written at the first check past it (a heartbeat, or a sync that a pod or the Node asks for). On a node shared with other schedulers' pods, writing every change would be a write per node per heartbeat while they churn. Less of a resource is written within a second of the pod that takes it coming to the node (and at the heartbeat that finds it), so that the master does not go on offering what the kubelet would refuse; meanwhile the master offers less than the node has. 0 writes growth at the check that finds it.")
	f.StringVar(&o.metricsAddr, "metrics-bind-address", "0", "Address of the Prometheus metrics endpoint; \"0\" turns it off.")
	f.StringVar(&o.probeAddr, "health-probe-bind-address", ":5052", "Address of the /healthz and /readyz endpoints.")
	f.StringVar(&o.pprofAddr, "pprof-bind-address", "0", pprofFlagHelp)
	f.StringVar(&o.offerTolerations, "offer-tolerations", "", `Node taints under which the node is still offered, as a JSON list of pod
tolerations, e.g. '[{"key":"dedicated","operator":"Equal","value":"batch","effect":"NoSchedule"}]'.
Executor pods name their node and so skip the scheduler's taint checks: the
agent offers nothing of a node with any other NoSchedule or NoExecute taint,
or a cordon, and gives executor pods these tolerations. Default: none.`)
	f.StringVar(&o.ports, "ports", DefaultAgentPorts, `Port ranges that the agent offers, in Mesos's range syntax, e.g.
"[31000-31099,32000-32099]" ("[]" or "" offers none). A framework of the Mesos API
is offered, as the resource "ports", those that no live task of the agent
holds; the allocator counts them as the resource kubemesos.io/ports. Executor
pods have their own network namespaces, so a port is never contended between
pods: frameworks pick ports from their offers as they do on Mesos.`)
	f.StringVar(&o.anonymous, strings.TrimPrefix(agent.FlagAnonymousNamespaces, "--"), "", `Namespaces, comma-separated, whose executors may call the executor API
without credentials, for executor libraries that cannot send the executor
token (default: none). A call without an Authorization header is then taken
as the executor of the running executor pod of this node whose pod IP is the
call's source address, if that pod is in one of these namespaces, and the call
must name that executor; any other call without credentials is refused (401).
A call with a token is checked as without this flag. It trusts the pod
network: any process that can send from that pod's IP (every container of the
pod) acts as its executor. SECURITY.md says what it does not protect against.`)
	addZapFlags(cmd, &o.zap)
	return cmd
}

// parseNamespaces reads a comma-separated list of namespace names ("" is
// none); spaces around a name are dropped, and each name must be a DNS-1123
// label, given once.
func parseNamespaces(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var names []string
	seen := map[string]bool{}
	for i, part := range strings.Split(s, ",") {
		name := strings.TrimSpace(part)
		if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
			return nil, fmt.Errorf("namespace %d (%q) is not a namespace name: %s", i+1, name, strings.Join(msgs, "; "))
		}
		if seen[name] {
			return nil, fmt.Errorf("namespace %q is given twice", name)
		}
		seen[name] = true
		names = append(names, name)
	}
	return names, nil
}

func (o *agentOptions) validate() error {
	var errs []error
	if o.nodeName == "" {
		errs = append(errs, errors.New("--node-name is required: pass the node name, for example from the downward API (spec.nodeName) as $NODE_NAME"))
	}
	if o.port <= 0 || o.port > 65535 {
		errs = append(errs, fmt.Errorf("--port %d is not a TCP port (1-65535)", o.port))
	}
	if o.statusUpdateWriters < 1 {
		errs = append(errs, fmt.Errorf("--status-update-writers must be at least 1, got %d", o.statusUpdateWriters))
	}
	if o.heartbeatInterval <= 0 {
		errs = append(errs, fmt.Errorf("--heartbeat-interval must be positive, got %s", o.heartbeatInterval))
	}
	o.portSet = nil
	if strings.TrimSpace(o.ports) != "" {
		var err error
		if o.portSet, err = portrange.Parse(o.ports); err != nil {
			errs = append(errs, fmt.Errorf("--ports: %w", err))
		}
	}
	names, err := parseNamespaces(o.anonymous)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", agent.FlagAnonymousNamespaces, err))
	}
	o.anonymousNamespaces = names
	o.tolerations = nil
	if o.offerTolerations != "" {
		if err := json.Unmarshal([]byte(o.offerTolerations), &o.tolerations); err != nil {
			errs = append(errs, fmt.Errorf("--offer-tolerations is not a JSON list of tolerations: %w", err))
		}
		for i, t := range o.tolerations {
			if err := validateToleration(t); err != nil {
				errs = append(errs, fmt.Errorf("--offer-tolerations[%d]: %w", i, err))
			}
		}
	}
	return errors.Join(errs...)
}

func runAgent(o *agentOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.zap)))
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading the kubeconfig (set --kubeconfig or KUBECONFIG, or run in a pod): %w", err)
	}
	mgr, err := ctrl.NewManager(restconfig.ForCluster(cfg), ctrl.Options{
		Scheme:                 scheme.New(),
		Metrics:                metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress: o.probeAddr,
		PprofBindAddress:       o.pprofAddr,
		Cache:                  agent.CacheOptions(o.nodeName, o.leaseNamespace),
	})
	if err != nil {
		return fmt.Errorf("creating the agent's manager: %w", err)
	}
	if err := metrics.RegisterAgent(ctrlmetrics.Registry); err != nil {
		return fmt.Errorf("registering the agent's metrics: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	rec, err := agent.NewRecorder(ctx, mgr, o.nodeName)
	if err != nil {
		return err
	}
	a, err := agent.New(mgr.GetClient(), clock.RealClock{}, rec, agent.Options{
		NodeName:                    o.nodeName,
		Endpoint:                    net.JoinHostPort(o.advertiseAddress, strconv.Itoa(o.port)),
		Listen:                      net.JoinHostPort(o.bindAddress, strconv.Itoa(o.port)),
		WorkDir:                     o.workDir,
		LeaseNamespace:              o.leaseNamespace,
		HeartbeatInterval:           o.heartbeatInterval,
		ResourceGrowthDelay:         o.resourceGrowthDelay,
		ExecutorRegistrationTimeout: o.registrationTimeout,
		StatusUpdateDelay:           o.statusUpdateDelay,
		RunningUpdateDelay:          o.runningUpdateDelay,
		StatusUpdateWriters:         o.statusUpdateWriters,
		OfferTolerations:            o.tolerations,
		Ports:                       o.portSet,
		AnonymousExecutorNamespaces: o.anonymousNamespaces,
	}, ctrl.Log.WithName("agent"))
	if err != nil {
		return fmt.Errorf("starting the agent: %w", err)
	}
	if err := a.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the agent: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("adding the ready check: %w", err)
	}
	ctrl.Log.WithName("agent").Info("starting the agent", "node", o.nodeName, "endpoint", a.Options.Endpoint, "workDir", o.workDir,
		"anonymousExecutorNamespaces", o.anonymousNamespaces)
	return mgr.Start(ctx)
}

// validateToleration checks what a pod's toleration must satisfy.
func validateToleration(t corev1.Toleration) error {
	switch t.Operator {
	case corev1.TolerationOpExists:
		if t.Value != "" {
			return fmt.Errorf("operator Exists takes no value (got %q)", t.Value)
		}
	case corev1.TolerationOpEqual, "":
		if t.Key == "" {
			return errors.New("operator Equal needs a key")
		}
	default:
		return fmt.Errorf("operator %q: want Equal or Exists", t.Operator)
	}
	switch t.Effect {
	case "", corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute, corev1.TaintEffectPreferNoSchedule:
	default:
		return fmt.Errorf("effect %q: want NoSchedule, NoExecute or PreferNoSchedule (or none, for every effect)", t.Effect)
	}
	return nil
}
