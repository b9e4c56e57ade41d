//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// diagnosticsTail is how many lines of each kubemesos container's log a
// failed run prints: enough for the minutes before a failure at the chart's
// log level, short enough for a CI log.
const diagnosticsTail = 300

// printDiagnostics writes what a failed run leaves to read once the local
// cluster is gone (CI keeps only its output): the nodes, with their
// conditions and taints when they are not healthy, every pod of the
// cluster that did not succeed, the kubemesos namespace's Events, the
// Agents and their Events, and the
// last lines of each kubemesos container's log, and of its previous
// instance when it restarted.
func printDiagnostics(w io.Writer) {
	section := func(title string, out string, err error) {
		fmt.Fprintf(w, "\n==== e2e diagnostics: %s ====\n%s", title, out)
		if err != nil {
			fmt.Fprintf(w, "(%v)\n", err)
		}
	}
	out, err := kubectl("get", "nodes", "-o", "wide")
	if trouble := nodeTrouble(context.Background()); len(trouble) > 0 {
		out += strings.Join(trouble, "\n") + "\n"
	}
	section("nodes", out, err)
	// The pods that did not succeed: a churning framework leaves many
	// that did.
	out, err = kubectl("get", "pods", "-A", "-o", "wide", "--field-selector", "status.phase!=Succeeded")
	section("pods (but those that succeeded)", out, err)
	out, err = kubectl("get", "events", "-n", systemNS, "--sort-by=.lastTimestamp")
	section("events in "+systemNS, out, err)
	// The Agents, and their events (an Agent is cluster-scoped: its
	// events are in the default namespace), which say why a node is not
	// offered.
	out, err = kubectl("get", "agents", "-o", "wide")
	section("agents", out, err)
	out, err = kubectl("get", "events", "-n", "default", "--field-selector", "involvedObject.kind=Agent", "--sort-by=.lastTimestamp")
	section("events of the Agents", out, err)
	var pods corev1.PodList
	if err := c.List(context.Background(), &pods, client.InNamespace(systemNS)); err != nil {
		section("logs", "", fmt.Errorf("listing the pods of %s: %w", systemNS, err))
		return
	}
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			args := []string{"logs", "-n", systemNS, p.Name, "-c", cs.Name, "--tail", strconv.Itoa(diagnosticsTail), "--timestamps"}
			out, err := kubectl(args...)
			section(fmt.Sprintf("log of %s/%s", p.Name, cs.Name), out, err)
			if cs.RestartCount > 0 {
				out, err := kubectl(append(args, "--previous")...)
				section(fmt.Sprintf("previous log of %s/%s (%d restarts)", p.Name, cs.Name, cs.RestartCount), out, err)
			}
		}
	}
}
