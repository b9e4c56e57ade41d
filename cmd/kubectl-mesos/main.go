// Command kubectl-mesos is the kubectl plugin `kubectl mesos`: copied onto
// PATH, it answers `kubectl mesos status`, `why`, `offers`, `top`, `kill`
// and `logs`, and serves the master's web console with `console` (see
// package kubectlmesos).
package main

import (
	"os"

	"github.com/kubemesos/kubemesos/internal/kubectlmesos"
)

func main() { os.Exit(kubectlmesos.Main()) }
