package agent_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"path"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/inprocess"
)

// checkTokenProjection: an executor pod carries its credential as a
// projected service account token for the executor audience, mounted
// read-only where its environment says, and no token value anywhere in its
// spec; it gets no API token.
func checkTokenProjection(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		t.Error("the executor pod would get an API token")
	}
	var src *corev1.ServiceAccountTokenProjection
	var vol string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil {
					src, vol = s.ServiceAccountToken, v.Name
				} else {
					t.Errorf("volume %s projects more than the executor token: %+v", v.Name, s)
				}
			}
		case v.Name == "kubemesos-sandbox" && v.EmptyDir != nil:
			// The sandbox: a directory of the pod's own.
		default:
			t.Errorf("unexpected volume %+v", v)
		}
	}
	if src == nil || src.Audience != executorapi.TokenAudience || src.ExpirationSeconds == nil || *src.ExpirationSeconds != executorapi.TokenExpirationSeconds {
		t.Fatalf("executor token projection %+v, want audience %s, %ds", src, executorapi.TokenAudience, executorapi.TokenExpirationSeconds)
	}
	mounted := false
	for _, m := range pod.Spec.Containers[0].VolumeMounts {
		if m.Name == vol && m.ReadOnly && path.Join(m.MountPath, src.Path) == envValue(pod, executorapi.EnvTokenFile) {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("the token is not mounted read-only at $%s (%q): %+v", executorapi.EnvTokenFile, envValue(pod, executorapi.EnvTokenFile), pod.Spec.Containers[0].VolumeMounts)
	}
	raw, err := json.Marshal(pod.Spec)
	if err != nil {
		t.Fatal(err)
	}
	// A JWT starts with the base64url of `{"`: no token value in the spec.
	if strings.Contains(string(raw), "eyJ") || strings.Contains(string(raw), `"KUBEMESOS_EXECUTOR_TOKEN"`) {
		t.Errorf("the executor pod spec carries a token value: %s", raw)
	}
}

// requestToken asks the API server for a service account token of pod's
// namespace: for audience, bound to pod unless it is nil.
func requestToken(t *testing.T, ns string, pod *corev1.Pod, audience string) string {
	t.Helper()
	ctx := context.Background()
	if err := inprocess.DefaultServiceAccount(ctx, env.Client, ns); err != nil {
		t.Fatal(err)
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}
	if audience != "" {
		tr.Spec.Audiences = []string{audience}
	}
	if pod != nil {
		tr.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}}
	if err := env.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// withExp returns token with its payload's expiry changed (and so its
// signature no longer valid).
func withExp(t *testing.T, token string, exp time.Time) string {
	t.Helper()
	parts := strings.Split(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	claims["exp"] = exp.Unix()
	raw, _ = json.Marshal(claims)
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

// TestExecutorCredentials: an executor authenticates with the service
// account token bound to its own pod, for the executor audience. Every
// other credential is refused with a 401 or 403 that says why: none, a
// made-up one, an expired or altered one, one for another audience, one
// bound to no pod or to a pod that is not the executor's, the executor's
// own token for a call naming another executor, and the token of a pod
// that was deleted or replaced.
func TestExecutorCredentials(t *testing.T) {
	ctx := context.Background()
	startTestMaster(t, 5*time.Second)
	addNode(t, "cred-node")
	addr := freeAddr(t)
	startTestAgent(t, "cred-node", t.TempDir(), addr, time.Minute, nil)
	ns := frameworkWithScheduler(t, "credfw")
	launchOnOffer(t, ns, "credfw", "cred-node", b.MakeTask("c", "").Resources("cpu", "1").Executor("e", "img").Obj())
	pod := podOf(t, ns, map[string]string{kmv1.LabelExecutor: "e"})
	checkTokenProjection(t, pod)
	kubelet(t, pod, corev1.PodRunning, 0)
	waitState(t, ns, "c", kmv1.TaskStaging)

	call := func(token, executorID, typ string) (int, string) {
		t.Helper()
		body := `{"type":"` + typ + `","namespace":"` + ns + `","framework":"credfw","executor_id":"` + executorID + `"`
		switch typ {
		case "UPDATE":
			body += `,"update":{"status":{"task_id":"c","state":"TASK_STARTING","uuid":"s-1"}}`
		case "MESSAGE":
			body += `,"message":{"data":"hi"}`
		}
		body += "}"
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+executorapi.Path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(msg))
	}

	good := requestToken(t, ns, pod, executorapi.TokenAudience)
	if code, msg := call(good, "e", "UPDATE"); code != http.StatusAccepted {
		t.Fatalf("the executor's own token: %d %q, want 202", code, msg)
	}
	waitState(t, ns, "c", kmv1.TaskStarting)

	// A pod on the same node and namespace, with the same ServiceAccount,
	// that the agent did not launch.
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bystander"}, Spec: corev1.PodSpec{
		NodeName: "cred-node", ServiceAccountName: "default", AutomountServiceAccountToken: ptr.To(false),
		Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if err := env.Client.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, token, executor string
		code                  int
		want                  string
	}{
		{name: "no token", executor: "e", code: 401, want: "no executor token"},
		{name: "made up", token: strings.Repeat("0", 64), executor: "e", code: 401, want: "not a service account token"},
		{name: "expired", token: withExp(t, good, time.Now().Add(-time.Minute)), executor: "e", code: 401, want: "expired"},
		{name: "altered", token: withExp(t, good, time.Now().Add(time.Hour)), executor: "e", code: 401, want: "the API server refused the executor token"},
		{name: "another audience", token: requestToken(t, ns, pod, "vault"), executor: "e", code: 401, want: `is for ["vault"]`},
		{name: "an API token", token: requestToken(t, ns, pod, ""), executor: "e", code: 401, want: "is for"},
		{name: "bound to no pod", token: requestToken(t, ns, nil, executorapi.TokenAudience), executor: "e", code: 401, want: "not bound to a pod"},
		{name: "another pod", token: requestToken(t, ns, other, executorapi.TokenAudience), executor: "e", code: 403, want: "not an executor pod"},
		{name: "another executor", token: good, executor: "f", code: 403, want: "the call names executor"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := call(tc.token, tc.executor, "UPDATE")
			if code != tc.code || !strings.Contains(msg, tc.want) {
				t.Errorf("got %d %q, want %d containing %q", code, msg, tc.code, tc.want)
			}
		})
	}

	// The pod is replaced by another of the same name (and the same
	// labels): the old pod's token no longer passes, the new one's does.
	if err := env.Client.Delete(ctx, pod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted pod's token refused", func() bool {
		code, _ := call(good, "e", "MESSAGE")
		return code == http.StatusUnauthorized
	})
	if code, msg := call(good, "e", "MESSAGE"); code != http.StatusUnauthorized || !strings.Contains(msg, "refused") {
		t.Errorf("the deleted pod's token: %d %q, want 401 saying the API server refused it", code, msg)
	}
	twin := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pod.Name, Labels: pod.Labels, Annotations: pod.Annotations}, Spec: pod.Spec}
	if err := env.Client.Create(ctx, twin); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new pod's token accepted", func() bool {
		code, _ := call(requestToken(t, ns, twin, executorapi.TokenAudience), "e", "MESSAGE")
		return code == http.StatusAccepted
	})
	if code, msg := call(good, "e", "MESSAGE"); code != http.StatusUnauthorized {
		t.Errorf("the replaced pod's token: %d %q, want 401", code, msg)
	}
}
