// Command kubemesos is the single binary of the kubemesos operator: the
// master (the controller manager that makes offers and keeps the registry)
// and the agent (the DaemonSet process on every node).
package main

import (
	"os"

	"github.com/kubemesos/kubemesos/internal/cli"
)

func main() {
	if err := cli.NewRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
