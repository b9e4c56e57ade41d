package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/console"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// viewerRole may read the kubemesos objects where it is bound.
const viewerRole = "test-console-viewer"

// logsRole may get pods/log where it is bound.
const logsRole = "test-console-logs"

// viewerRoles creates viewerRole and logsRole, once.
func viewerRoles(t *testing.T) {
	t.Helper()
	for _, cr := range []*rbacv1.ClusterRole{
		{ObjectMeta: metav1.ObjectMeta{Name: viewerRole}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{kmv1.GroupVersion.Group}, Resources: []string{"frameworks", "tasks"}, Verbs: []string{"get", "list", "watch"}},
		}},
		{ObjectMeta: metav1.ObjectMeta{Name: logsRole}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
		}},
	} {
		if err := env.Client.Create(context.Background(), cr); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}

// bind binds ClusterRole role to ServiceAccount ns/name in namespace in.
func bind(t *testing.T, ns, name, role, in string) {
	t.Helper()
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: in, GenerateName: name + "-"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}}}
	if err := env.Client.Create(context.Background(), rb); err != nil {
		t.Fatal(err)
	}
}

// viewer creates a ServiceAccount in ns bound to viewerRole in each of
// namespaces (every namespace when cluster), and returns its token.
func viewer(t *testing.T, ns, name string, cluster bool, namespaces ...string) string {
	t.Helper()
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}); err != nil {
		t.Fatal(err)
	}
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: viewerRole}
	if cluster {
		crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{GenerateName: "console-"}, RoleRef: ref, Subjects: subject}
		if err := env.Client.Create(ctx, crb); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), crb) })
	}
	for _, n := range namespaces {
		if err := env.Client.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: n, Name: name}, RoleRef: ref, Subjects: subject}); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

func namespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "console-"}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// get sends GET path with token to a console, and returns the status,
// the headers and the body.
func get(t *testing.T, addr, path, token string) (int, http.Header, string) {
	t.Helper()
	return getWith(t, addr, path, func(req *http.Request) {
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
	})
}

// getWith sends GET path to a console, with what set adds to the request,
// and returns the status, the headers and the body.
func getWith(t *testing.T, addr, path string, set func(*http.Request)) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	set(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

// TestConsole runs two masters with the console against the API server:
// whichever a viewer reaches, the leader answers (a standby passes the
// request on); a viewer of namespace a sees a's framework and tasks and
// nothing of b, and may not list agents; a viewer of every namespace sees
// both; no token gets 401.
func TestConsole(t *testing.T) {
	ctx := context.Background()
	viewerRoles(t)
	nsA, nsB := namespace(t), namespace(t)
	for _, ns := range []string{nsA, nsB} {
		if err := env.Client.Create(ctx, b.MakeFramework("fw-"+ns, ns).Obj()); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Create(ctx, b.MakeTask("task-"+ns, ns).Framework("fw-"+ns).Offer("none").Resources("cpu", "1").Command("busybox", "true").Obj()); err != nil {
			t.Fatal(err)
		}
	}
	tokenA := viewer(t, nsA, "viewer", false, nsA)
	tokenAll := viewer(t, nsA, "admin", true)

	_ = env.Client.Delete(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: inprocess.SystemNamespace, Name: kmv1.MasterLeaseName}})
	addrs := map[string]string{}
	for _, id := range []string{"m1", "m2"} {
		addr := inprocess.FreeAddr(t)
		m := inprocess.LaunchMaster(t, env.Config, inprocess.MasterConfig{ID: id, LeaderElect: true,
			Console: &console.Options{BindAddress: addr, AdvertiseAddress: addr}})
		addrs[m.Identity] = addr
	}
	var leader, standby string
	testenv.Eventually(t, "a master to lead", 30*time.Second, func() bool {
		var l coordinationv1.Lease
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: inprocess.SystemNamespace, Name: kmv1.MasterLeaseName}, &l); err != nil || l.Spec.HolderIdentity == nil {
			return false
		}
		for id, addr := range addrs {
			if id == *l.Spec.HolderIdentity {
				leader = addr
			} else {
				standby = addr
			}
		}
		return leader != ""
	})
	for _, addr := range addrs {
		testenv.Eventually(t, "both consoles to listen", 30*time.Second, func() bool {
			resp, err := http.Get("http://" + addr + "/api/v1/overview")
			if err == nil {
				_ = resp.Body.Close()
			}
			return err == nil
		})
	}
	testenv.Eventually(t, "the leader's console to see both tasks", 30*time.Second, func() bool {
		code, _, body := get(t, leader, "/api/v1/tasks", tokenAll)
		return code == http.StatusOK && strings.Contains(body, "task-"+nsA) && strings.Contains(body, "task-"+nsB)
	})

	tasksOfA := 1
	for name, addr := range map[string]string{"leader": leader, "standby": standby} {
		code, h, body := get(t, addr, "/api/v1/frameworks", tokenA)
		if code != http.StatusOK || !strings.Contains(body, "fw-"+nsA) || strings.Contains(body, nsB) {
			t.Errorf("%s: frameworks for a's viewer: %d %s", name, code, body)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("%s: headers %v", name, h)
		}
		var page console.Page[console.TaskSummary]
		code, _, body = get(t, addr, "/api/v1/tasks?q=task", tokenA)
		if err := json.Unmarshal([]byte(body), &page); err != nil || code != http.StatusOK || page.Total != 1 || page.Items[0].Name != "task-"+nsA {
			t.Errorf("%s: tasks for a's viewer: %d %s", name, code, body)
		}
		for path, want := range map[string]int{
			"/api/v1/tasks/" + nsB + "/task-" + nsB:    http.StatusNotFound,
			"/api/v1/frameworks/" + nsB + "/fw-" + nsB: http.StatusNotFound,
			"/api/v1/tasks/" + nsA + "/task-" + nsA:    http.StatusOK,
			"/api/v1/agents":                           http.StatusForbidden,
		} {
			if code, _, body := get(t, addr, path, tokenA); code != want || strings.Contains(body, "fw-"+nsB) {
				t.Errorf("%s: %s for a's viewer: %d %s; want %d", name, path, code, body, want)
			}
		}
		for _, path := range []string{"/api/v1/overview", "/api/v1/roles"} {
			if code, _, body := get(t, addr, path, tokenA); code != http.StatusOK || strings.Contains(body, nsB) {
				t.Errorf("%s: %s for a's viewer: %d %s", name, path, code, body)
			}
		}
		code, h, _ = get(t, addr, "/api/v1/overview", "")
		if code != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("%s: no token: %d, challenge %q", name, code, h.Get("WWW-Authenticate"))
		}
		if code, _, _ := get(t, addr, "/api/v1/overview", "not-a-token"); code != http.StatusUnauthorized {
			t.Errorf("%s: a bad token: %d, want 401", name, code)
		}
		checkLogin(t, name, addr, tokenA, "fw-"+nsA, nsB)
		checkWeb(t, name, addr, tokenA, "viewer")
		added := name
		checkEvents(t, name, addr, tokenA, tasksOfA, func() {
			for _, ns := range []string{nsB, nsA} {
				if err := env.Client.Create(ctx, b.MakeTask("live-"+added, ns).Framework("fw-"+ns).Offer("none").Resources("cpu", "1").Command("busybox", "true").Obj()); err != nil {
					t.Fatal(err)
				}
			}
		})
		tasksOfA++
		code, _, body = get(t, addr, "/api/v1/frameworks", tokenAll)
		if code != http.StatusOK || !strings.Contains(body, "fw-"+nsA) || !strings.Contains(body, "fw-"+nsB) {
			t.Errorf("%s: frameworks for the viewer of all: %d %s", name, code, body)
		}
	}
}
