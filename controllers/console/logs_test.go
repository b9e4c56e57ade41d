package console_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/console"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// TestTaskLogs reads a task's log through the console: a viewer who may
// read the namespace but not get pods/log gets 403 and why; one who may
// gets 404 while the task has no pod, and 404 once its pod is named but
// gone. The API server of envtest has no kubelet, so no log is ever read:
// the test goes as far as the API server's answer to GetLogs.
func TestTaskLogs(t *testing.T) {
	ctx := context.Background()
	viewerRoles(t)
	ns, other := namespace(t), namespace(t)
	if err := env.Client.Create(ctx, b.MakeFramework("fw", ns).Obj()); err != nil {
		t.Fatal(err)
	}
	task := b.MakeTask("logged", ns).Framework("fw").Offer("none").Resources("cpu", "1").Command("busybox", "true").Obj()
	if err := env.Client.Create(ctx, task); err != nil {
		t.Fatal(err)
	}
	noLogs := viewer(t, ns, "no-logs", false, ns)
	logs := viewer(t, ns, "logs", false, ns)
	bind(t, ns, "logs", logsRole, ns)
	elsewhere := viewer(t, other, "elsewhere", false, other)
	bind(t, other, "elsewhere", logsRole, other)

	addr := inprocess.FreeAddr(t)
	inprocess.LaunchMaster(t, env.Config, inprocess.MasterConfig{ID: "logs", Console: &console.Options{BindAddress: addr, AdvertiseAddress: addr}})
	path := "/api/v1/tasks/" + ns + "/logged/log"
	testenv.Eventually(t, "the console to listen", 30*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/api/v1/overview")
		if err == nil {
			_ = resp.Body.Close()
		}
		return err == nil
	})
	testenv.Eventually(t, "the console to see the task", 30*time.Second, func() bool {
		code, _, _ := get(t, addr, "/api/v1/tasks/"+ns+"/logged", logs)
		return code == http.StatusOK
	})

	if code, _, body := get(t, addr, path, noLogs); code != http.StatusForbidden || !strings.Contains(body, "pods/log") {
		t.Errorf("a viewer without pods/log: %d %s; want 403 naming pods/log", code, body)
	}
	if code, _, body := get(t, addr, path, elsewhere); code != http.StatusNotFound || strings.Contains(body, "logged") {
		t.Errorf("a viewer of another namespace: %d %s; want 404", code, body)
	}
	if code, _, body := get(t, addr, path, logs); code != http.StatusNotFound || !strings.Contains(body, "no pod yet") {
		t.Errorf("a task without a pod: %d %s; want 404 no pod yet", code, body)
	}
	for _, q := range []string{"?tail=0", "?tail=x", "?container=Not_A_Name"} {
		if code, _, body := get(t, addr, path+q, logs); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s; want 400", q, code, body)
		}
	}

	// The master judges the task meanwhile (its offer does not exist) and
	// writes its status: retry on conflict.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur kmv1.Task
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "logged"}, &cur); err != nil {
			return err
		}
		cur.Status.PodName = "logged-pod"
		return env.Client.Status().Update(ctx, &cur)
	}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the log of a pod that is not there to answer 404", 30*time.Second, func() bool {
		code, _, body := get(t, addr, path+"?tail=10", logs)
		return code == http.StatusNotFound && strings.Contains(body, "pod is gone")
	})
	if code, _, body := get(t, addr, path, noLogs); code != http.StatusForbidden || !strings.Contains(body, "logged-pod") {
		t.Errorf("a viewer without pods/log, once the pod is named: %d %s; want 403 naming the pod", code, body)
	}
}

// TestParseLogQuery checks the bounds of a log request.
func TestParseLogQuery(t *testing.T) {
	for _, c := range []struct {
		tail, container string
		want            int64
		ok              bool
	}{
		{"", "", console.DefaultLogTail, true},
		{"10", "main", 10, true},
		{"999999", "", console.MaxLogTail, true},
		{"0", "", 0, false},
		{"-1", "", 0, false},
		{"1e3", "", 0, false},
		{"5", "A", 0, false},
		{"5", "a/b", 0, false},
	} {
		q, err := console.ParseLogQuery(c.tail, c.container)
		if (err == nil) != c.ok || (c.ok && (q.Tail != c.want || q.Container != c.container)) {
			t.Errorf("ParseLogQuery(%q, %q) = %+v, %v", c.tail, c.container, q, err)
		}
	}
}

// FuzzParseLogQuery checks that any query is refused or within bounds.
func FuzzParseLogQuery(f *testing.F) {
	f.Add("500", "main")
	f.Add("", "")
	f.Add("99999999999999999999", "x")
	f.Fuzz(func(t *testing.T, tail, container string) {
		q, err := console.ParseLogQuery(tail, container)
		if err != nil {
			return
		}
		if q.Tail < 1 || q.Tail > console.MaxLogTail || q.Container != container || len(container) > 63 {
			t.Fatalf("ParseLogQuery(%q, %q) = %+v", tail, container, q)
		}
	})
}
