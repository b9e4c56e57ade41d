//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// ScreenshotDirEnv names a folder where TestConsoleInBrowser writes its
// screenshots (`make screenshots` gives docs/images); unset, they go to a
// temporary folder.
const ScreenshotDirEnv = "KUBEMESOS_SCREENSHOT_DIR"

// consolePages are the pages the test screenshots, by file name; each
// must be in docs/images, where the README and docs/operations.md show
// them.
var consolePages = []string{"overview", "frameworks", "framework", "agents", "tasks", "task", "roles"}

// TestConsoleInBrowser drives the console's pages in headless Chromium.
// A viewer of every namespace comes in with the one command the demo
// prints (`kubectl mesos console --service-account ...`), watches
// MonteCarloArea run on the overview without reloading (the live
// updates), and every figure it reads equals kubectl's; a task's page
// shows its pod's real log. A viewer of one namespace, through `kubectl
// port-forward` and the login page, sees nothing of another, and no
// agents. The screenshots of the main pages are kept.
func TestConsoleInBrowser(t *testing.T) {
	ctx := context.Background()
	nsA, nsB := newNamespace(t, "console-a"), newNamespace(t, "console-b")
	consoleViewer(t, nsA, "viewer-all", "")
	tokenA := consoleViewer(t, nsA, "viewer-a", nsA)

	// Namespace b: a run the viewer of a must not see.
	montecarlo(t, nsB, nil)
	if fw := waitDone(t, nsB, 3*time.Minute); fw.Status.Phase != kmv1.FrameworkCompleted {
		t.Fatalf("montecarloarea in %s: %s", nsB, fw.Status.Message)
	}

	// The viewer of every namespace comes in as the demo says: through
	// `kubectl mesos console`, which adds the token; no login.
	url := kubectlMesosConsole(t, nsA+"/viewer-all")
	b := newBrowser(t)
	open(t, b, url)
	if user := evalString(t, b, "document.getElementById('user').textContent"); user != "system:serviceaccount:"+nsA+":viewer-all" {
		t.Errorf("the header names %q; want viewer-all's service account", user)
	}
	if hidden := evalString(t, b, "String(document.getElementById('logout').hidden)"); hidden != "true" {
		t.Errorf("a viewer whose token the proxy adds is offered a logout")
	}
	shots := screenshotDir(t)

	// Live updates: the overview is open before MonteCarloArea starts in
	// a, and shows its six tasks finished without a reload.
	if _, err := chromedp.Run(b, chromedp.Evaluate[string]("window.__e2e = 'no reload'")); err != nil {
		t.Fatal(err)
	}
	before := browserCounts(t, b)
	cycleBefore, _ := strconv.Atoi(evalString(t, b, "document.getElementById('live').dataset.cycle || '0'"))
	montecarlo(t, nsA, map[string]string{"tasks": "6"})
	logTask := commandTask(t, nsA, "console-log-line")
	if fw := waitDone(t, nsA, 3*time.Minute); fw.Status.Phase != kmv1.FrameworkCompleted {
		t.Fatalf("montecarloarea in %s: %s", nsA, fw.Status.Message)
	}
	var seen map[string]int
	wait(t, "the overview to count the tasks as kubectl does", time.Minute, func() bool {
		seen = browserCounts(t, b)
		return equalCounts(seen, kubectlTaskCounts(t, "-A"))
	})
	if seen["TASK_FINISHED"] < before["TASK_FINISHED"]+7 {
		t.Errorf("TASK_FINISHED went from %d to %d; want 7 more", before["TASK_FINISHED"], seen["TASK_FINISHED"])
	}
	if still := evalString(t, b, "String(window.__e2e)"); still != "no reload" {
		t.Errorf("the overview reloaded (marker %q); the live updates should redraw it in place", still)
	}
	// The figures came by the live updates: the stream is open and has
	// brought later cycles.
	live := evalString(t, b, "document.getElementById('live').className + ' ' + (document.getElementById('live').dataset.cycle || '0')")
	if f := strings.Fields(live); len(f) != 3 || f[1] != "on" || atoi(f[2]) <= cycleBefore {
		t.Errorf("the live updates: badge %q; want class on and a cycle after %d", live, cycleBefore)
	}
	agentPhases := map[string]int{}
	for _, p := range strings.Fields(kubectlOut(t, "get", "magent", "-o", "jsonpath={.items[*].status.phase}")) {
		agentPhases[p]++
	}
	if got := tileCounts(t, b, "agents-by-phase"); !equalCounts(got, agentPhases) {
		t.Errorf("agents by phase: the console shows %v, kubectl %v", got, agentPhases)
	}
	shoot(t, b, shots, "overview")

	// The frameworks of a, as kubectl sees them.
	// The console shows the master's last allocation cycle: the page
	// catches up with kubectl within a few cycles, by itself.
	visit(t, b, url, "#/frameworks?q="+nsA)
	phase := kubectlOut(t, "get", "mfw", "montecarloarea", "-n", nsA, "-o", "jsonpath={.status.phase}")
	var rows map[string]string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Second) {
		rows = tableRows(t, b)
		mc := rows[nsA+"/montecarloarea"]
		if len(rows) == 2 && strings.Contains(mc, phase) && strings.Contains(mc, "6 finished") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the frameworks page does not show montecarloarea %s with 6 tasks finished: %q", phase, rows)
		}
	}
	shoot(t, b, shots, "frameworks")
	visit(t, b, url, "#/frameworks/"+nsA+"/montecarloarea")
	shoot(t, b, shots, "framework")

	// The agents: one row each, in kubectl's phase.
	visit(t, b, url, "#/agents")
	rows = tableRows(t, b)
	var agents kmv1.AgentList
	if err := c.List(ctx, &agents); err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(agents.Items) {
		t.Errorf("the agents page has %d rows, kubectl %d agents", len(rows), len(agents.Items))
	}
	for _, a := range agents.Items {
		if !strings.Contains(rows[a.Name], string(a.Status.Phase)) {
			t.Errorf("agent %s: row %q; want phase %s", a.Name, rows[a.Name], a.Status.Phase)
		}
	}
	shoot(t, b, shots, "agents")

	// The tasks of a: as many as kubectl lists, in kubectl's states.
	visit(t, b, url, "#/tasks?namespace="+nsA)
	wait(t, "the tasks of "+nsA, 30*time.Second, func() bool {
		return strings.Contains(evalString(t, b, "document.getElementById('page-info').textContent"), " 7 in all")
	})
	rows = tableRows(t, b)
	for key, state := range kubectlTaskStates(t, nsA) {
		if !strings.Contains(rows[key], state) {
			t.Errorf("task %s: row %q; want %s", key, rows[key], state)
		}
	}
	shoot(t, b, shots, "tasks")

	// A task's page: its state history, and its pod's log read through
	// the API server as the viewer.
	visit(t, b, url, "#/tasks/"+nsA+"/"+logTask)
	wait(t, "the task's log", 30*time.Second, func() bool {
		return strings.Contains(evalString(t, b, "document.getElementById('log').textContent"), "console-log-line")
	})
	shoot(t, b, shots, "task")
	var mcTask string
	for key := range kubectlTaskStates(t, nsA) {
		if key != nsA+"/"+logTask {
			mcTask = key
		}
	}
	visit(t, b, url, "#/tasks/"+mcTask)
	if text := evalString(t, b, "document.getElementById('main').innerText"); !strings.Contains(text, "TASK_FINISHED") || !strings.Contains(text, "completed") {
		t.Errorf("task %s's page:\n%s", mcTask, text)
	}
	visit(t, b, url, "#/roles")
	if text := evalString(t, b, "document.getElementById('main').innerText"); !strings.Contains(text, "*") {
		t.Errorf("the roles page lacks the role * of MonteCarloArea:\n%s", text)
	}
	shoot(t, b, shots, "roles")

	// The viewer of a alone, through `kubectl port-forward` and the login
	// page, in a browser of its own.
	url = portForwardConsole(t)
	b = newBrowser(t)
	login(t, b, url, tokenA)
	if err := chromedp.Do(b, chromedp.Click(chromedp.ID("logout"), chromedp.NodeVisible), chromedp.WaitVisible(chromedp.ID("token"))); err != nil {
		t.Fatalf("logging out: %v", err)
	}
	login(t, b, url, tokenA)
	wait(t, "viewer-a's overview to count a's tasks", 30*time.Second, func() bool {
		return equalCounts(browserCounts(t, b), kubectlTaskCounts(t, "-n", nsA))
	})
	if n := evalString(t, b, "String(document.querySelectorAll('#agents-by-phase').length)"); n != "0" {
		t.Errorf("viewer-a, who may not list agents, sees the agents by phase")
	}
	for _, page := range []string{"#/frameworks", "#/tasks", "#/tasks?q=" + nsB} {
		visit(t, b, url, page)
		if text := evalString(t, b, "document.getElementById('main').innerText"); strings.Contains(text, nsB) {
			t.Errorf("viewer-a sees %s on %s:\n%s", nsB, page, text)
		}
	}
	visit(t, b, url, "#/tasks?namespace="+nsB)
	if info := evalString(t, b, "document.getElementById('page-info').textContent"); !strings.Contains(info, " 0 in all") {
		t.Errorf("viewer-a's tasks of %s: %q; want none", nsB, info)
	}
	for page, want := range map[string]string{
		"#/frameworks/" + nsB + "/montecarloarea": "Not found, or not yours to read.",
		"#/agents": "Reading the agents takes the right to list agents.kubemesos.io.",
	} {
		visit(t, b, url, page)
		if text := evalString(t, b, "document.getElementById('main').innerText"); !strings.Contains(text, want) {
			t.Errorf("viewer-a on %s:\n%s\nwant %q", page, text, want)
		}
	}
	visit(t, b, url, "#/frameworks")
	if rows := tableRows(t, b); len(rows) != 2 {
		t.Errorf("viewer-a's frameworks: %v; want the two of %s", rows, nsA)
	}
}

// consoleViewer creates ServiceAccount name in ns, binds it to the
// chart's ClusterRole kubemesos-viewer in namespace in (every namespace
// when in is ""), and returns a token of it.
func consoleViewer(t *testing.T, ns, name, in string) string {
	t.Helper()
	if out, err := kubectl("create", "serviceaccount", name, "-n", ns); err != nil {
		t.Fatalf("creating ServiceAccount %s: %v\n%s", name, err, out)
	}
	var out string
	var err error
	if in == "" {
		binding := "console-" + ns + "-" + name
		out, err = kubectl("create", "clusterrolebinding", binding, "--clusterrole=kubemesos-viewer", "--serviceaccount="+ns+":"+name)
		t.Cleanup(func() { _, _ = kubectl("delete", "clusterrolebinding", binding) })
	} else {
		out, err = kubectl("create", "rolebinding", name, "-n", in, "--clusterrole=kubemesos-viewer", "--serviceaccount="+ns+":"+name)
	}
	if err != nil {
		t.Fatalf("binding kubemesos-viewer: %v\n%s", err, out)
	}
	token, err := kubectl("create", "token", name, "-n", ns, "--duration=1h")
	if err != nil {
		t.Fatalf("kubectl create token: %v\n%s", err, token)
	}
	return strings.TrimSpace(token)
}

// commandTask runs a command task in ns that prints line, on a framework
// of its own whose scheduler the test plays (a Lease held by hand), and
// returns the task's name once it finished.
func commandTask(t *testing.T, ns, line string) string {
	t.Helper()
	ctx := context.Background()
	fw := builders.MakeFramework("logs", ns).Obj()
	if err := c.Create(ctx, fw); err != nil {
		t.Fatal(err)
	}
	holdSchedulerLease(t, ns, fw.Name, 600)
	var offer string
	wait(t, "an offer to the framework logs", time.Minute, func() bool {
		var offers kmv1.OfferList
		_ = c.List(ctx, &offers, client.InNamespace(ns), client.MatchingLabels{kmv1.LabelFramework: fw.Name})
		if len(offers.Items) > 0 {
			offer = offers.Items[0].Name
		}
		return offer != ""
	})
	task := builders.MakeTask("print", ns).Framework(fw.Name).Offer(offer).Resources("cpu", "100m", "memory", "32Mi").
		Command("busybox:stable", "echo", line).Obj()
	if err := c.Create(ctx, task); err != nil {
		t.Fatal(err)
	}
	wait(t, "the command task to be admitted", time.Minute, func() bool {
		return c.Get(ctx, client.ObjectKeyFromObject(task), task) == nil && task.Status.State != ""
	})
	// Done with offers: suppress them and decline those held, so that the
	// other frameworks of the namespace get the agents.
	if err := c.Patch(ctx, fw, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"suppressOffers":true}}`))); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteAllOf(ctx, &kmv1.Offer{}, client.InNamespace(ns), client.MatchingLabels{kmv1.LabelFramework: fw.Name}); err != nil {
		t.Fatal(err)
	}
	wait(t, "the command task to finish", 2*time.Minute, func() bool {
		return c.Get(ctx, client.ObjectKeyFromObject(task), task) == nil && task.Status.State.IsTerminal()
	})
	if task.Status.State != kmv1.TaskFinished {
		t.Fatalf("the command task ended %s: %s", task.Status.State, task.Status.Message)
	}
	return task.Name
}

// portForwardConsole runs `kubectl port-forward svc/kubemesos-console` on a
// free local port and returns the console's URL.
func portForwardConsole(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(testenv.Kubectl(), "port-forward", "-n", systemNS, "svc/kubemesos-console", ":5080")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	return "http://127.0.0.1:" + startPrinter(t, cmd, `^Forwarding from 127\.0\.0\.1:(\d+) `) + "/"
}

// kubectlMesosConsole runs `kubectl mesos console --service-account sa`,
// the binary make build builds, on a free port and returns the URL it
// prints.
func kubectlMesosConsole(t *testing.T, sa string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(testenv.RepoRoot(), "bin", "kubectl-mesos"), "console", "--service-account", sa, "--port", "0")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	return startPrinter(t, cmd, `^Console: (http://127\.0\.0\.1:\d+/) \(as [^;]+; Ctrl-C stops\)$`)
}

// startPrinter starts cmd, which prints its URL on a line that re
// matches (the URL the first group), and stops it when the test ends.
func startPrinter(t *testing.T, cmd *exec.Cmd, re string) string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		line := regexp.MustCompile(re)
		s := bufio.NewScanner(out)
		for s.Scan() {
			if m := line.FindStringSubmatch(s.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case url := <-found:
		return url
	case <-time.After(time.Minute):
		t.Fatalf("%s did not print its URL: %s", strings.Join(cmd.Args, " "), stderr.String())
		return ""
	}
}

// newBrowser starts a headless Chromium (Debian's, which `make browser`
// installs) and returns its tab.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("no chromium on PATH: run `make browser` (Debian's chromium package)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1400, 1000))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	// The page's errors and console output go to the test's log.
	b, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			desc := d.Text
			if d.Exception != nil {
				desc += " " + d.Exception.Description
			}
			t.Logf("browser: exception at %s:%d: %s", d.URL, d.LineNumber+1, desc)
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value))
			}
			t.Logf("browser: console.%s %s", ev.Type, strings.Join(args, " "))
		}
	}))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(b); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return b
}

// open opens the console at url, whose proxy adds the token, and waits
// for the overview.
func open(t *testing.T, b context.Context, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"#/"), chromedp.WaitVisible(chromedp.ID("tasks-by-state"))); err != nil {
		t.Fatalf("opening the console at %s: %v\n%s", url, err, evalString(t, b, "location.href + '\\n' + (document.body ? document.body.innerText : '(no page)')"))
	}
}

// login opens the console at url, logs in with token through the page's
// form, and waits for the overview.
func login(t *testing.T, b context.Context, url, token string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b, time.Minute)
	defer cancel()
	err := chromedp.Do(ctx,
		chromedp.Navigate(url+"#/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SetValue(chromedp.ID("token"), token),
		chromedp.Click(chromedp.ID("login-submit"), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.ID("tasks-by-state")),
	)
	if err != nil {
		t.Fatalf("logging in to the console at %s: %v\n%s", url, err, evalString(t, b, "location.href + '\\n' + (document.body ? document.body.innerText : '(no page)')"))
	}
}

// visit opens the page at hash and waits until it is drawn.
func visit(t *testing.T, b context.Context, url, hash string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b, 30*time.Second)
	defer cancel()
	before := evalString(t, b, "document.getElementById('main').dataset.ready || ''")
	if !strings.HasPrefix(evalString(t, b, "location.href"), url) {
		t.Fatalf("the browser left the console: %s", evalString(t, b, "location.href"))
	}
	// A new hash draws the page in place, as a click on a link does.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf("location.hash = %q", hash))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf("document.getElementById('main').dataset.ready !== %q && document.getElementById('main').dataset.route === %q", before, hash))); err != nil {
		t.Fatalf("page %s was not drawn: %v\n%s", hash, err, evalString(t, b, "document.body.innerText"))
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func evalString(t *testing.T, b context.Context, expr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return s
}

// tileCounts reads the tiles of the overview's box id: count by key.
func tileCounts(t *testing.T, b context.Context, id string) map[string]int {
	t.Helper()
	raw := evalString(t, b, fmt.Sprintf(`JSON.stringify(Object.fromEntries([...document.querySelectorAll('#%s .tile')].map(e => [e.dataset.key, +e.querySelector('.n').textContent])))`, id))
	out := map[string]int{}
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("reading the tiles of %s: %v (%s)", id, err, raw)
	}
	return out
}

// browserCounts is the overview's tasks by state.
func browserCounts(t *testing.T, b context.Context) map[string]int {
	t.Helper()
	return tileCounts(t, b, "tasks-by-state")
}

// tableRows reads the rows of the page's first table, by data-key, as
// their text.
func tableRows(t *testing.T, b context.Context) map[string]string {
	t.Helper()
	raw := evalString(t, b, `JSON.stringify(Object.fromEntries([...document.querySelectorAll('main table')[0].querySelectorAll('tbody tr[data-key]')].map(r => [r.dataset.key, r.innerText])))`)
	out := map[string]string{}
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("reading the table: %v (%s)", err, raw)
	}
	return out
}

func kubectlOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := kubectl(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// kubectlTaskStates is the state of each task of ns, by namespace/name, as
// kubectl get shows it (PENDING before admission, as the console says).
func kubectlTaskStates(t *testing.T, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(kubectlOut(t, "get", "mtask", "-n", ns, "-o", `jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.status.state}{"\n"}{end}`), "\n") {
		f := strings.Fields(line)
		switch len(f) {
		case 1:
			out[f[0]] = "PENDING"
		case 2:
			out[f[0]] = f[1]
		}
	}
	return out
}

// kubectlTaskCounts counts the tasks kubectl lists with scope (-A, or
// -n NS) by state.
func kubectlTaskCounts(t *testing.T, scope ...string) map[string]int {
	t.Helper()
	args := append([]string{"get", "mtask"}, scope...)
	args = append(args, "-o", `jsonpath={range .items[*]}{.status.state}{"|"}{end}`)
	out := map[string]int{}
	for _, s := range strings.Split(kubectlOut(t, args...), "|") {
		if s == "" {
			continue
		}
		out[s]++
	}
	// Tasks not admitted yet have no state: count them as the console does.
	total := len(strings.Split(kubectlOut(t, append(append([]string{"get", "mtask"}, scope...), "-o", `jsonpath={range .items[*]}x{end}`)...), "x")) - 1
	n := 0
	for _, v := range out {
		n += v
	}
	if total > n {
		out["PENDING"] = total - n
	}
	return out
}

func equalCounts(a, b map[string]int) bool {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	for k := range keys {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

// screenshotDir is where the screenshots go: $KUBEMESOS_SCREENSHOT_DIR
// (`make screenshots`), else a temporary folder, and then each page must
// have its screenshot in docs/images.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv(ScreenshotDirEnv); d != "" {
		return d
	}
	for _, p := range consolePages {
		f := filepath.Join(testenv.RepoRoot(), "docs", "images", "console-"+p+".png")
		if _, err := os.Stat(f); err != nil {
			t.Errorf("docs/images lacks the screenshot of the %s page (make screenshots): %v", p, err)
		}
	}
	return t.TempDir()
}

// shoot saves a screenshot of the whole page as dir/console-name.png, and
// checks that it is a PNG as wide as the window.
func shoot(t *testing.T, b context.Context, dir, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b, 30*time.Second)
	defer cancel()
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot of %s: %v", name, err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(img))
	if err != nil || cfg.Width != 1400 {
		t.Errorf("screenshot of %s: %v, %d wide; want a PNG 1400 wide", name, err, cfg.Width)
	}
	if err := os.WriteFile(filepath.Join(dir, "console-"+name+".png"), img, 0o644); err != nil {
		t.Fatal(err)
	}
}
