//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// mesosNamespace is where the Mesos scheduler API puts frameworks that
// call without credentials: the e2e install opts in to that
// (master.mesosAPI.anonymousNamespace), as a framework library that cannot
// send credentials needs.
const mesosNamespace = "mesos-anonymous"

// controlPlaneNetns is the local cluster's control-plane network namespace
// (hack/localcluster), which routes to every node's pod range: the test's
// Mesos framework runs there, as a framework outside the cluster would.
const controlPlaneNetns = "/run/netns/kubemesos-cp"

// scenarioEvent is one line that scenario.js prints.
type scenarioEvent struct {
	Event       string   `json:"event"`
	FrameworkID string   `json:"frameworkId"`
	StreamID    string   `json:"streamId"`
	Count       int      `json:"count"`
	IP          []string `json:"ip"`
	Task        string   `json:"task"`
	State       string   `json:"state"`
	Source      string   `json:"source"`
	Reason      string   `json:"reason"`
	Agent       string   `json:"agent"`
	Offer       string   `json:"offer"`
	UUID        bool     `json:"uuid"`
	Message     string   `json:"message"`
	Executor    string   `json:"executor"`
	Data        string   `json:"data"`
}

// readScenario reads the steps a test's framework prints, one line
// "SCENARIO <json>" each, calling each (when not nil) for every step as it
// comes, and returns them all.
func readScenario(t *testing.T, r io.Reader, each func(scenarioEvent)) []scenarioEvent {
	t.Helper()
	var events []scenarioEvent
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "SCENARIO ")
		if !ok {
			continue
		}
		var e scenarioEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Errorf("scenario line %q: %v", line, err)
			continue
		}
		events = append(events, e)
		if each != nil {
			each(e)
		}
	}
	return events
}

// masterPodIP is the address of a ready master: any will do, since a
// standby redirects a framework to the leader.
func masterPodIP(t *testing.T) string {
	t.Helper()
	var pods corev1.PodList
	if err := c.List(context.Background(), &pods, client.InNamespace(systemNS), client.MatchingLabels{"app.kubernetes.io/component": "master"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		ready := p.Status.Phase == corev1.PodRunning && p.Status.PodIP != ""
		for _, cs := range p.Status.ContainerStatuses {
			ready = ready && cs.Ready
		}
		if ready {
			return p.Status.PodIP
		}
	}
	t.Fatalf("no ready master pod among %d", len(pods.Items))
	return ""
}

// TestMesosFrameworkLibrary: a Mesos framework library that was not
// written here (the npm package mesos-framework, pinned in
// test/e2e/mesosframework/package-lock.json, unmodified) subscribes to a
// master through the Mesos v1 scheduler HTTP API in JSON, receives offers,
// launches command tasks that reach TASK_FINISHED, acknowledges their
// updates, declines the offers it does not need, runs a task on each of two
// custom executors that speak the Mesos v1 executor API to the agent and
// send the framework a message (mesos-go-executor, on mesos-go's library,
// with its token; and the npm library's own executor, executor.js, which
// sends no credentials: the e2e install opts mesosNamespace in on the agent
// too), kills a task and tears the framework down; kubectl sees the same
// Framework and Tasks, each launched once, with no state going backwards.
func TestMesosFrameworkLibrary(t *testing.T) {
	ctx := context.Background()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("Node.js runs the test's Mesos framework: %v", err)
	}
	dir := filepath.Join(testenv.RepoRoot(), "test", "e2e", "mesosframework")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "mesos-framework", "package.json")); err != nil {
		t.Fatalf("the framework library is not installed (`make e2e` runs npm ci in %s): %v", dir, err)
	}
	tasks := watchTasks(t, mesosNamespace)

	// Any master will do: a standby redirects the library to the leader.
	master := masterPodIP(t)

	runCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	name := "e2e-npm-" + time.Now().Format("150405")
	cmd := exec.CommandContext(runCtx, "nsenter", "--net="+controlPlaneNetns, "--", node, "scenario.js",
		"--master", master, "--port", "5050", "--name", name, "--timeout", "240", "--log-dir", t.TempDir())
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()

	events := readScenario(t, &stdout, nil)
	if runErr != nil {
		t.Fatalf("the framework did not finish: %v\n%s\nevents: %+v\nstderr:\n%s", runErr, taskSummary(events), events, tail(stderr.String(), 4000))
	}

	count := map[string]int{}
	var frameworkID string
	final := map[string]string{}
	updates := map[string][]string{}
	for _, e := range events {
		count[e.Event]++
		switch e.Event {
		case "subscribed":
			frameworkID = e.FrameworkID
			if e.StreamID == "" {
				t.Errorf("SUBSCRIBED without a Mesos-Stream-Id")
			}
		case "offers":
			for _, ip := range e.IP {
				if ip == "" {
					t.Errorf("an offer without url.address.ip: %+v", e)
				}
			}
		case "update":
			updates[e.Task] = append(updates[e.Task], e.State)
			final[e.Task] = e.State
			if !e.UUID && e.Reason != "REASON_RECONCILIATION" {
				t.Errorf("an update without a uuid: %+v", e)
			}
		case "error":
			t.Errorf("the framework saw an error: %s", e.Message)
		}
	}
	if count["subscribed"] != 1 || frameworkID == "" {
		t.Errorf("subscribed %d times (framework ID %q), want once", count["subscribed"], frameworkID)
	}
	for _, want := range []string{"offers", "accepted", "acknowledged", "declined", "kill", "teardown", "done"} {
		if count[want] == 0 {
			t.Errorf("no %q in the run: %v", want, count)
		}
	}
	finished, killed := 0, 0
	worked := map[string]int{} // by executor
	for task, st := range final {
		switch {
		case workerExecutor(task) != "" && st == "TASK_FINISHED":
			worked[workerExecutor(task)]++
			// The agent may coalesce TASK_RUNNING into a TASK_FINISHED that
			// follows it within --status-update-delay.
			if got := updates[task]; len(got) > 2 || (len(got) == 2 && got[0] != "TASK_RUNNING") {
				t.Errorf("the custom executor's task %s went %v, want TASK_RUNNING (unless coalesced) then TASK_FINISHED", task, got)
			}
		// The library names a task "<framework name>.<task name>-<n>.<uuid>".
		case strings.Contains(task, ".hello-") && st == "TASK_FINISHED":
			finished++
		case strings.Contains(task, ".sleeper-") && st == "TASK_KILLED":
			killed++
		default:
			t.Errorf("task %s ended %s (updates %v)", task, st, updates[task])
		}
	}
	if finished != 3 || killed != 1 || worked[mesosGoExecutor] != 1 || worked[npmExecutor] != 1 {
		t.Errorf("%d command tasks finished, %d killed, and on the custom executors %v finished, want 3, 1 and one on each of %s and %s: %v",
			finished, killed, worked, mesosGoExecutor, npmExecutor, updates)
	}
	// Each custom executor's message reached the framework, from that
	// executor.
	messages := map[string]int{}
	for _, e := range events {
		if e.Event == "message" {
			messages[e.Executor]++
			task, ok := strings.CutPrefix(e.Data, "hello from ")
			if !ok || workerExecutor(task) != e.Executor || e.Agent == "" {
				t.Errorf("MESSAGE %+v, want a hello from a task of its executor", e)
			}
		}
	}
	if len(messages) != 2 || messages[mesosGoExecutor] != 1 || messages[npmExecutor] != 1 {
		t.Errorf("framework messages by executor %v, want one from each of %s and %s", messages, mesosGoExecutor, npmExecutor)
	}
	// Their updates came from the executors (SOURCE_EXECUTOR): the npm
	// library's executor sent them without credentials.
	npmFinished := false
	for _, e := range events {
		if e.Event != "update" || workerExecutor(e.Task) == "" {
			continue
		}
		if e.Source != "SOURCE_EXECUTOR" {
			t.Errorf("an update of the custom executor's task from %s, want SOURCE_EXECUTOR: %+v", e.Source, e)
		}
		if workerExecutor(e.Task) == npmExecutor && e.State == "TASK_FINISHED" && e.Source == "SOURCE_EXECUTOR" {
			npmFinished = true
		}
	}
	if !npmFinished {
		t.Errorf("the npm library's executor's task never reached TASK_FINISHED from SOURCE_EXECUTOR: %v", updates)
	}

	// What kubectl sees: the framework and one Task per Mesos task.
	var fws kmv1.FrameworkList
	if err := c.List(ctx, &fws, client.InNamespace(mesosNamespace)); err != nil {
		t.Fatal(err)
	}
	var fw *kmv1.Framework
	for i := range fws.Items {
		if fws.Items[i].Status.FrameworkID == frameworkID {
			fw = &fws.Items[i]
		}
	}
	if fw == nil {
		t.Fatalf("no Framework in %s has frameworkID %s", mesosNamespace, frameworkID)
	}
	wait(t, "the torn-down framework to end", time.Minute, func() bool {
		var cur kmv1.Framework
		err := c.Get(ctx, client.ObjectKeyFromObject(fw), &cur)
		return apierrors.IsNotFound(err) || (err == nil && (cur.Status.Phase == kmv1.FrameworkCompleted || cur.Status.Phase == kmv1.FrameworkFailed))
	})
	var list kmv1.TaskList
	if err := c.List(ctx, &list, client.InNamespace(mesosNamespace)); err != nil {
		t.Fatal(err)
	}
	ofFramework := 0
	for _, tk := range list.Items {
		if string(tk.Spec.Framework) == fw.Name {
			ofFramework++
		}
	}
	if ofFramework != 6 {
		t.Errorf("%d Tasks of the framework, want 6 (each Mesos task launched once)", ofFramework)
	}
	tasks.check(t)
}

// The custom executors of scenario.js.
const (
	// mesosGoExecutor is mesos-go-executor's ID; its task IDs hold ".worker-".
	mesosGoExecutor = "e2e-worker"
	// npmExecutor is the npm library's executor's (executor.js) ID; its
	// task IDs hold ".npmworker-".
	npmExecutor = "e2e-npm-worker"
)

// workerExecutor is the custom executor of a task of scenario.js, from its
// ID ("<framework>.<name>-<n>.<time>"); "" for a command task.
func workerExecutor(task string) string {
	switch {
	case strings.Contains(task, ".worker-"):
		return mesosGoExecutor
	case strings.Contains(task, ".npmworker-"):
		return npmExecutor
	}
	return ""
}

// taskSummary says, a line each, how often each task was launched and its
// latest update (state, source, reason, message): what a failed run's
// reader needs first, before the whole list of steps.
func taskSummary(events []scenarioEvent) string {
	launches := map[string]int{}
	last := map[string]scenarioEvent{}
	var order []string
	for _, e := range events {
		if e.Task == "" || (e.Event != "launch" && e.Event != "update") {
			continue
		}
		if _, ok := launches[e.Task]; !ok {
			order = append(order, e.Task)
		}
		if e.Event == "launch" {
			launches[e.Task]++
		} else {
			last[e.Task] = e
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "tasks (%d):", len(order))
	for _, id := range order {
		u := last[id]
		fmt.Fprintf(&b, "\n  %s: launched %d times, last update %s %s %s %q", id, launches[id], u.State, u.Source, u.Reason, u.Message)
	}
	return b.String()
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// TestMesosFrameworkSurvivesMasterFailover: a Mesos framework on mesos-go's
// scheduler library (bin/mesos-go-scheduler, built from
// test/mesoscompat/cmd/mesos-go-scheduler; nothing of kubemesos in it)
// launches three command tasks through the Mesos v1 scheduler API; once
// they run, the leading master's process is killed. The framework
// subscribes again with its framework ID, is redirected to the new leader,
// gets its tasks' updates, acknowledges them, and tears down once they have
// finished: no task is launched twice and no state goes backwards. A
// launch the master refuses because the offer was rescinded meanwhile is
// launched again by the framework, as Mesos frameworks do, and is not
// counted: a master may rescind an offer at any time before it is used.
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
		t.Fatalf("the framework did not finish: %v\n%s\nevents: %+v\nstderr:\n%s", runErr, taskSummary(events), events, tail(stderr.String(), 4000))
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
			// A launch the master refused because its offer had been
			// rescinded (the framework launches the task again) is no
			// launch: no Task was created for it, or the Task it dropped
			// was replaced by the launch that followed.
			if (e.State == "TASK_LOST" || e.State == "TASK_DROPPED") && e.Source == "SOURCE_MASTER" && e.Reason == "REASON_INVALID_OFFERS" {
				launched[e.Task]--
				t.Logf("%s was refused and launched again: %s", e.Task, e.Message)
			}
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
	// The tests after this one need every master back: the killed one
	// restarts as a standby.
	wait(t, "the masters to be ready again", 2*time.Minute, func() bool {
		var pods corev1.PodList
		if err := c.List(context.Background(), &pods, client.InNamespace(systemNS), client.MatchingLabels{"app.kubernetes.io/component": "master"}); err != nil {
			return false
		}
		for _, p := range pods.Items {
			for _, cs := range p.Status.ContainerStatuses {
				if !cs.Ready {
					return false
				}
			}
		}
		return len(pods.Items) > 0
	})
}
