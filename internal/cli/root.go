// Package cli builds the kubemesos command line: the master, agent,
// prepare-work-dir and version subcommands.
package cli

import (
	goflag "flag"
	"fmt"

	"github.com/spf13/cobra"

	// Registers --kubeconfig on the Go flag set.
	_ "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/kubemesos/kubemesos/internal/version"
)

// NewRootCommand returns the kubemesos command with its subcommands.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "kubemesos",
		Short: "Apache Mesos's two-level scheduling as a Kubernetes operator",
		Long: `kubemesos runs the Apache Mesos model on Kubernetes.

The master turns node capacity into resource Offers for Frameworks, admits the
Tasks that frameworks launch on those offers, and keeps the registry in the
status of the Agent, Framework and Task objects. A Lease elects the leading
master, in place of ZooKeeper.

The agent runs on every node (a DaemonSet). It registers the node as an
Agent, renews a heartbeat Lease, launches executor pods for the tasks placed
on it, and writes their status updates back into the registry.

Watch what happens with:
  kubectl get kubemesos          # frameworks, tasks and offers
  kubectl get magent             # agents (cluster-scoped)`,
		SilenceUsage: true,
	}
	// --kubeconfig, as controller-runtime reads it; without it the
	// in-cluster config or $KUBECONFIG is used.
	if f := goflag.CommandLine.Lookup("kubeconfig"); f != nil {
		root.PersistentFlags().AddGoFlag(f)
	}
	root.AddCommand(newMasterCommand(), newAgentCommand(), newPrepareWorkDirCommand(), newVersionCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of kubemesos",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), version.String())
		},
	}
}
