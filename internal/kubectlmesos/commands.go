package kubectlmesos

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubemesos/kubemesos/internal/scheme"
	"github.com/kubemesos/kubemesos/internal/version"
)

// Options are what the command reads from outside: its streams, and for
// tests a fixed REST config and clock.
type Options struct {
	// In, Out and ErrOut are the streams; os.Stdin, os.Stdout and
	// os.Stderr when nil.
	In io.Reader
	// Out is where results go.
	Out io.Writer
	// ErrOut is where errors go.
	ErrOut io.Writer
	// RESTConfig, when set, is used in place of the kubeconfig flags; the
	// namespace is then -n, else "default".
	RESTConfig *rest.Config
	// Now returns the time; time.Now when nil.
	Now func() time.Time
	// ForwardPort, when set, replaces the port-forward of `console` to
	// the master's pod (ForwardPort when nil).
	ForwardPort func(ctx context.Context, cfg *rest.Config, pod *corev1.Pod, port int32, errOut io.Writer) (*PortForward, error)
}

// plugin is the state that the subcommands share: flags and clients.
type plugin struct {
	opts            Options
	flags           *genericclioptions.ConfigFlags
	allNamespaces   bool
	output          string
	roleWeights     string
	masterNamespace string
	why             whyFlags

	client    client.Client
	clientset kubernetes.Interface
}

// DefaultMasterNamespace is where the chart installs the master, whose
// --role-weights the plugin reads.
const DefaultMasterNamespace = "kubemesos-system"

// NewCommand returns the `kubectl mesos` command with its subcommands.
func NewCommand(o Options) *cobra.Command {
	if o.In == nil {
		o.In = os.Stdin
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.ErrOut == nil {
		o.ErrOut = os.Stderr
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p := &plugin{opts: o, flags: genericclioptions.NewConfigFlags(true)}
	root := &cobra.Command{
		Use:   "kubectl-mesos",
		Short: "Explain kubemesos: why a framework gets no offers, why a task does not run",
		Long: `kubectl mesos reads the kubemesos objects (Agents, Frameworks, Tasks and
Offers) with your kubeconfig and your rights, and explains them.

  kubectl mesos status            agents, frameworks, roles and shares
  kubectl mesos why FRAMEWORK     why a framework gets no offers
  kubectl mesos why TASK          why a task does not run, or how it ended
  kubectl mesos offers [-A]       outstanding offers
  kubectl mesos top [-A]          usage by framework and role
  kubectl mesos kill TASK         ask the agent to kill a task
  kubectl mesos logs TASK [-f]    the task's logs
  kubectl mesos console           the master's web console on this machine

-o json|yaml prints documents of kind Explanation, Status, OfferList or Top
(apiVersion ` + APIVersion + `) whose fields stay stable for scripts.`,
		Annotations:       map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl mesos"},
		SilenceUsage:      true,
		SilenceErrors:     true,
		Version:           version.Version,
		PersistentPreRunE: func(*cobra.Command, []string) error { return validOutput(p.output) },
	}
	root.SetIn(o.In)
	root.SetOut(o.Out)
	root.SetErr(o.ErrOut)
	p.flags.AddFlags(root.PersistentFlags())
	root.PersistentFlags().StringVarP(&p.output, "output", "o", "", "output format: json, yaml or wide; a table when empty")
	root.AddCommand(p.statusCommand(), p.whyCommand(), p.offersCommand(), p.topCommand(), p.killCommand(), p.logsCommand(), p.consoleCommand())
	return root
}

// Main runs the command with os.Args and prints an error as kubectl does.
// It returns the process's exit code.
func Main() int {
	cmd := NewCommand(Options{})
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "error:", err)
		return 1
	}
	return 0
}

func (p *plugin) addAllNamespaces(cmd *cobra.Command, what string) {
	cmd.Flags().BoolVarP(&p.allNamespaces, "all-namespaces", "A", false, what+" in every namespace you may read")
}

func (p *plugin) addRoleWeights(cmd *cobra.Command) {
	cmd.Flags().StringVar(&p.roleWeights, "role-weights", "", "the master's DRF role weights (role=weight pairs, e.g. prod=3,dev=1); read from the master's pods when empty")
	cmd.Flags().StringVar(&p.masterNamespace, "master-namespace", DefaultMasterNamespace, "the namespace of the kubemesos master, whose --role-weights are read")
}

// restConfig returns the REST config: the test's, or the kubeconfig's.
func (p *plugin) restConfig() (*rest.Config, error) {
	if p.opts.RESTConfig != nil {
		return rest.CopyConfig(p.opts.RESTConfig), nil
	}
	cfg, err := p.flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig (see --kubeconfig and --context): %w", err)
	}
	return cfg, nil
}

// clients builds the clients once.
func (p *plugin) clients() (client.Client, kubernetes.Interface, error) {
	if p.client != nil {
		return p.client, p.clientset, nil
	}
	cfg, err := p.restConfig()
	if err != nil {
		return nil, nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to the API server %s: %w", cfg.Host, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to the API server %s: %w", cfg.Host, err)
	}
	p.client, p.clientset = c, cs
	return c, cs, nil
}

// namespace returns -n, else the kubeconfig context's namespace, else
// "default".
func (p *plugin) namespace() (string, error) {
	if p.flags.Namespace != nil && *p.flags.Namespace != "" {
		return *p.flags.Namespace, nil
	}
	if p.opts.RESTConfig != nil {
		return "default", nil
	}
	ns, _, err := p.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("reading the namespace from the kubeconfig (or pass -n): %w", err)
	}
	return ns, nil
}

// setup returns the client and namespace of one run.
func (p *plugin) setup() (context.Context, client.Client, string, error) {
	c, _, err := p.clients()
	if err != nil {
		return nil, nil, "", err
	}
	ns, err := p.namespace()
	if err != nil {
		return nil, nil, "", err
	}
	return context.Background(), c, ns, nil
}

func (p *plugin) statusCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Agents by phase, frameworks, roles and shares at a glance",
		Long: `status shows the agents by phase with their total, allocated, offered and free
cpu and memory; every framework you may read (in all namespaces when you may
list them cluster-wide, else in the current one) with its role, phase,
dominant share, tasks and outstanding offers; and the roles in DRF order.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, c, ns, err := p.setup()
			if err != nil {
				return err
			}
			facts, err := p.clusterFacts(ctx, c, ns, true, false)
			if err != nil {
				return err
			}
			s := BuildStatus(facts)
			if done, err := printDocument(cmd.OutOrStdout(), p.output, s); done {
				return err
			}
			return PrintStatus(cmd.OutOrStdout(), s)
		},
	}
	p.addRoleWeights(cmd)
	return cmd
}

func (p *plugin) topCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Allocated cpu and memory by framework and by role",
		Long: `top shows what the live tasks of each framework hold (status.allocated), as
amounts and as a part of the active agents' capacity, with the dominant
share; then the same summed by role.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, c, ns, err := p.setup()
			if err != nil {
				return err
			}
			facts, err := p.clusterFacts(ctx, c, ns, p.allNamespaces, p.allNamespaces)
			if err != nil {
				return err
			}
			t := BuildTop(facts)
			if done, err := printDocument(cmd.OutOrStdout(), p.output, t); done {
				return err
			}
			return PrintTop(cmd.OutOrStdout(), t, p.allNamespaces)
		},
	}
	p.addAllNamespaces(cmd, "frameworks")
	return cmd
}

func (p *plugin) offersCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "offers",
		Short: "Outstanding offers: framework, agent, resources and age",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, c, ns, err := p.setup()
			if err != nil {
				return err
			}
			offers, err := p.listOffers(ctx, c, ns)
			if err != nil {
				return err
			}
			l := BuildOffers(offers, p.opts.Now())
			if done, err := printDocument(cmd.OutOrStdout(), p.output, l); done {
				return err
			}
			return PrintOffers(cmd.OutOrStdout(), l, p.allNamespaces, p.output == OutputWide, p.opts.Now())
		},
	}
	p.addAllNamespaces(cmd, "offers")
	return cmd
}

func (p *plugin) whyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "why (FRAMEWORK | TASK | framework/NAME | task/NAME)",
		Short: "Why a framework gets no offers, or why a task does not run",
		Long: `why explains a framework or a task of the current namespace.

For a framework it checks, in order: finished or being torn down; not
registered; suppressed; scheduler disconnected; outstanding offers it holds;
agents it refuses after declining their offers (until when); frameworks and
roles ahead of it in DRF order; no active agent it does not refuse with what
its last task used free (with the closest shortfall); agents not active.

For a task: how it ended (state, reason, source, message); not admitted yet;
a kill pending; its agent unreachable; its pod not created yet, Pending (with
the pod's conditions and events) or ended; its executor not subscribed.

A framework's decline filters (the agents it refuses for a while after
declining their offers) live only in the leading master's memory: why reads
them from the master's console, at --console-url (the address that a running
kubectl mesos console prints, whose proxy adds its token), else through a
port-forward to the console as --token or your kubeconfig's own bearer token.
A kubeconfig with a client certificate has no token the console can check:
run kubectl mesos console --service-account NAMESPACE/NAME and pass its
address. When the console cannot be read, a note says why and the rest of the
explanation stands.

A bare NAME is looked up as a framework first, then as a task.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: p.completeFrameworksAndTasks,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkConsoleURL(p.why.consoleURL); err != nil {
				return err
			}
			ctx, c, ns, err := p.setup()
			if err != nil {
				return err
			}
			e, err := p.explain(ctx, c, ns, args[0])
			if err != nil {
				return err
			}
			if done, err := printDocument(cmd.OutOrStdout(), p.output, e); done {
				return err
			}
			return PrintExplanation(cmd.OutOrStdout(), e)
		},
	}
	p.addRoleWeights(cmd)
	cmd.Flags().Lookup("master-namespace").Usage = "the namespace of the kubemesos master, whose --role-weights are read and whose console Service " + ConsoleService + " is port-forwarded to"
	cmd.Flags().StringVar(&p.why.consoleURL, "console-url", "", "the master's console to read decline filters from, such as "+defaultConsoleURL+" that kubectl mesos console serves; a port-forward to it when empty")
	cmd.Flags().StringVar(&p.why.token, "token", "", "the bearer token to read the master's console with, in place of your kubeconfig's (sent to --console-url too)")
	return cmd
}

func (p *plugin) killCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "kill TASK",
		Short: "Ask the task's agent to kill it (sets spec.kill)",
		Long: `kill sets the task's spec.kill with a merge patch, as a scheduler does, with
your own rights (you need patch on tasks). The agent then kills the task with
its grace period and reports TASK_KILLED. A task that already ended is
refused.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: p.completeTasks,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, ns, err := p.setup()
			if err != nil {
				return err
			}
			msg, err := killTask(ctx, c, ns, args[0])
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), wrap(msg, "", "", Width))
			return err
		},
	}
}

func (p *plugin) logsCommand() *cobra.Command {
	var follow bool
	var container string
	cmd := &cobra.Command{
		Use:   "logs TASK",
		Short: "Print the logs of the task's pod",
		Long: `logs prints the logs of the pod that runs the task (status.podName), through
the API server with your rights (you need get on pods/log): the task's
container of a command task, the executor's of a custom executor, or -c.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: p.completeTasks,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, ns, err := p.setup()
			if err != nil {
				return err
			}
			return streamLogs(ctx, c, p.clientset, ns, args[0], container, follow, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "stream the logs as they are written")
	cmd.Flags().StringVarP(&container, "container", "c", "", "the container; the task's (command task) or the executor's when empty")
	return cmd
}
