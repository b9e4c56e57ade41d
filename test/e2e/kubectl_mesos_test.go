//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/kubectlmesos"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// TestKubectlMesosWhy starves a framework on purpose: its scheduler is
// connected (a Lease held by hand) but it suppresses offers. `kubectl mesos
// why`, the binary that make build builds, must name that as the reason;
// and a task that asks for more cpu than any node has must be explained as
// refused by the master.
func TestKubectlMesosWhy(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "why")
	plugin := filepath.Join(testenv.RepoRoot(), "bin", "kubectl-mesos")

	fw := builders.MakeFramework("starved", ns).Suppress(true).Obj()
	if err := c.Create(ctx, fw); err != nil {
		t.Fatal(err)
	}
	holdSchedulerLease(t, ns, fw.Name, 600)
	wait(t, "the framework to become Active", time.Minute, func() bool {
		return c.Get(ctx, client.ObjectKeyFromObject(fw), fw) == nil && fw.Status.Phase == kmv1.FrameworkActive
	})

	out, err := run(plugin, "why", "starved", "-n", ns)
	if err != nil || !strings.Contains(flat(out), "1. [Suppressed] it suppresses offers (spec.suppressOffers is true)") {
		t.Errorf("kubectl mesos why starved: %v\n%s", err, out)
	}
	out, err = run(plugin, "why", "starved", "-n", ns, "-o", "json")
	var e kubectlmesos.Explanation
	if err != nil || json.Unmarshal([]byte(out), &e) != nil || len(e.Reasons) == 0 || e.Reasons[0].Rule != kubectlmesos.RuleSuppressed {
		t.Errorf("kubectl mesos why starved -o json: want Suppressed first; %v\n%s", err, out)
	}
	for _, r := range e.Reasons {
		if r.Rule == kubectlmesos.RuleDisconnected || r.Rule == kubectlmesos.RuleNotRegistered {
			t.Errorf("the connected, registered framework is explained as %s: %s", r.Rule, r.Message)
		}
	}
	if out, err := run(plugin, "status"); err != nil || !strings.Contains(out, "starved") || !strings.Contains(out, "Active*") {
		t.Errorf("kubectl mesos status does not show the suppressed framework: %v\n%s", err, out)
	}

	task := builders.MakeTask("too-big", ns).Framework(fw.Name).Offer("no-such-offer").Resources("cpu", "1000").Command("busybox:stable", "true").Obj()
	if err := c.Create(ctx, task); err != nil {
		t.Fatal(err)
	}
	wait(t, "the master to refuse the task", time.Minute, func() bool {
		return c.Get(ctx, client.ObjectKeyFromObject(task), task) == nil && task.Status.State.IsTerminal()
	})
	out, err = run(plugin, "why", "task/too-big", "-n", ns)
	if err != nil || !strings.Contains(flat(out), "1. [Refused] the master refused it") || !strings.Contains(out, string(task.Status.State)) {
		t.Errorf("kubectl mesos why task/too-big (%s): %v\n%s", task.Status.State, err, out)
	}
}

// TestKubectlMesosWhyDeclineFilters declines every offer of a framework
// that refuses an agent for 10 minutes after a decline: `kubectl mesos why`
// must name the decline filters, read from the master's console through
// `kubectl mesos console` (as a viewer of the namespace only).
func TestKubectlMesosWhyDeclineFilters(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "whyfilters")
	plugin := filepath.Join(testenv.RepoRoot(), "bin", "kubectl-mesos")
	fw := builders.MakeFramework("picky", ns).RefuseSeconds(600).Obj()
	if err := c.Create(ctx, fw); err != nil {
		t.Fatal(err)
	}
	holdSchedulerLease(t, ns, fw.Name, 600)
	t.Cleanup(func() { _ = c.Delete(context.Background(), fw) })
	// Decline (delete) every offer until each Active agent has been
	// declined: then nothing more is offered for 10 minutes.
	var agents kmv1.AgentList
	if err := c.List(ctx, &agents); err != nil {
		t.Fatal(err)
	}
	declined := map[string]bool{}
	wait(t, "picky to decline an offer of every agent", 2*time.Minute, func() bool {
		var offers kmv1.OfferList
		_ = c.List(ctx, &offers, client.InNamespace(ns), client.MatchingLabels{kmv1.LabelFramework: fw.Name})
		for i := range offers.Items {
			if err := c.Delete(ctx, &offers.Items[i]); err == nil {
				declined[offers.Items[i].Spec.AgentID] = true
			}
		}
		return len(declined) >= countPhase(agents.Items, kmv1.AgentActive)
	})
	consoleViewer(t, ns, "viewer", ns)
	url := kubectlMesosConsole(t, ns+"/viewer")
	out, err := run(plugin, "why", "picky", "-n", ns, "--console-url", url)
	if err != nil || !strings.Contains(flat(out), "[DeclineFiltered]") {
		t.Errorf("kubectl mesos why picky --console-url %s: %v\n%s", url, err, out)
	}
	out, err = run(plugin, "why", "picky", "-n", ns, "--console-url", url, "-o", "json")
	var e kubectlmesos.Explanation
	if err != nil || json.Unmarshal([]byte(out), &e) != nil || len(e.Reasons) == 0 || e.Reasons[0].Rule != kubectlmesos.RuleDeclineFiltered {
		t.Errorf("kubectl mesos why picky -o json: want DeclineFiltered first; %v\n%s", err, out)
	}
}

// holdSchedulerLease plays framework fw's scheduler in ns: it creates the
// scheduler Lease kubemesos-scheduler-<fw>, held for seconds, as the SDK
// would, so that the master takes the framework as connected.
func holdSchedulerLease(t *testing.T, ns, fw string, seconds int32) {
	t.Helper()
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: kmv1.SchedulerLeaseName(fw), Namespace: ns, Labels: map[string]string{kmv1.LabelLease: kmv1.LeaseKindScheduler}},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("e2e"), LeaseDurationSeconds: ptr.To(seconds), RenewTime: ptr.To(metav1.NewMicroTime(time.Now()))},
	}
	if err := c.Create(context.Background(), lease); err != nil {
		t.Fatal(err)
	}
}

// flat joins the words of s with single spaces, undoing the plugin's
// wrapping at 80 columns.
func flat(s string) string { return strings.Join(strings.Fields(s), " ") }
