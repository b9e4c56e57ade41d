//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// TestMesosFrameworkSurvivesMasterFailover: a Mesos framework on mesos-go's
// scheduler library (bin/mesos-go-scheduler, built from
// test/mesoscompat/cmd/mesos-go-scheduler; nothing of kubemesos in it)
// launches three command tasks through the Mesos v1 scheduler API; once
// they run, the leading master's process is killed. The framework
// subscribes again with its framework ID, is redirected to the new leader,
// gets its tasks' updates, acknowledges them, and tears down once they have
// finished: no task is launched twice and no state goes backwards.
func TestMesosFrameworkSurvivesMasterFailover(t *testing.T) {
	ctx := context.Background()
	const tasks = 3
	tl := watchTasks(t, mesosNamespace)
	master := masterPodIP(t)

	runCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	name := "e2e-mesos-go-" + time.Now().Format("150405")
	cmd := exec.CommandContext(runCtx, "nsenter", "--net="+controlPlaneNetns, "--",
		filepath.Join(testenv.RepoRoot(), "bin", "mesos-go-scheduler"),
		"-master", "http://"+master+":5050/api/v1/scheduler", "-name", name, "-tasks", "3", "-sleep", "25", "-timeout", "4m")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the mesos-go framework (make build builds it): %v", err)
	}

	// Read the framework's steps as they come; kill the leader once every
	// task runs.
	var killed string
	running := map[string]bool{}
	events := readScenario(t, out, func(e scenarioEvent) {
		if e.Event == "update" && e.State == "TASK_RUNNING" {
			running[e.Task] = true
		}
		if killed == "" && len(running) == tasks {
			killed = killLeader(t)
			t.Logf("killed the leading master %s with %d tasks running", killed, tasks)
		}
	})
	runErr := cmd.Wait()
	if runErr != nil {
		t.Fatalf("the framework did not finish: %v\nevents: %+v\nstderr:\n%s", runErr, events, tail(stderr.String(), 4000))
	}
	if killed == "" {
		t.Fatalf("the tasks never all ran, so no master was killed: %+v", events)
	}

	subscribed := map[string]int{}
	launched := map[string]int{}
	final := map[string]string{}
	for _, e := range events {
		switch e.Event {
		case "subscribed":
			subscribed[e.FrameworkID]++
		case "launch":
			launched[e.Task]++
		case "update":
			final[e.Task] = e.State
		}
	}
	if len(subscribed) != 1 {
		t.Errorf("subscribed as %v, want one framework ID throughout", subscribed)
	}
	for id, n := range subscribed {
		if n < 2 {
			t.Errorf("framework %s subscribed %d times, want again after the failover", id, n)
		}
	}
	for i := 1; i <= tasks; i++ {
		id := "task-" + string(rune('0'+i))
		if launched[id] != 1 || final[id] != "TASK_FINISHED" {
			t.Errorf("%s launched %d times, ended %q; want once, TASK_FINISHED", id, launched[id], final[id])
		}
	}
	if now := leader(t); now == killed {
		t.Errorf("the killed master %s still holds the Lease", killed)
	}

	// What kubectl sees: one Task per Mesos task.
	var fws kmv1.FrameworkList
	if err := c.List(ctx, &fws, client.InNamespace(mesosNamespace)); err != nil {
		t.Fatal(err)
	}
	var fwName string
	for _, fw := range fws.Items {
		if subscribed[fw.Status.FrameworkID] > 0 {
			fwName = fw.Name
		}
	}
	var list kmv1.TaskList
	if err := c.List(ctx, &list, client.InNamespace(mesosNamespace)); err != nil {
		t.Fatal(err)
	}
	ofFramework := 0
	for _, tk := range list.Items {
		if fwName != "" && string(tk.Spec.Framework) == fwName {
			ofFramework++
		}
	}
	if fwName == "" || ofFramework != tasks {
		t.Errorf("%d Tasks of framework %q, want %d (each Mesos task launched once)", ofFramework, fwName, tasks)
	}
	tl.check(t)
}
