package agent_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubemesos/kubemesos/agent"
	"github.com/kubemesos/kubemesos/agent/executorapi"
	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	executorv1 "github.com/kubemesos/kubemesos/api/mesos/v1/executor"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// testPeer is the address the test's calls reach the agent from.
const testPeer = "127.0.0.1"

// runPod plays the kubelet for pod: Running, with address ip.
func runPod(t *testing.T, pod *corev1.Pod, ip string) {
	t.Helper()
	ctx := context.Background()
	var p corev1.Pod
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), &p); err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP, p.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	p.Status.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}})
	}
	if err := env.Client.Status().Update(ctx, &p); err != nil {
		t.Fatal(err)
	}
}

// anonymousCall posts a call of the kubemesos form for executor k with
// authorization as its Authorization header ("" for none), and returns
// the answer's status and body.
func anonymousCall(t *testing.T, addr, authorization string, k agent.ExecutorKey, body string) (int, string) {
	t.Helper()
	full := `{"namespace":"` + k.Namespace + `","framework":"` + k.Framework + `","executor_id":"` + k.ExecutorID + `",` + body + `}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+executorapi.Path, strings.NewReader(full))
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(msg))
}

// TestExecutorCallsWithoutCredentials: an agent takes executor calls
// without credentials only where --executor-api-anonymous-namespaces opts
// the executor's namespace in, and only from the address of that
// executor's running pod; the call must name that executor. Off, or from
// another address, or in another namespace, they are refused with a 401
// that says what to do; a call with a bad token is refused as ever, not
// taken as one without credentials. An executor of the Mesos form
// subscribes, gets its task and updates it without credentials.
func TestExecutorCallsWithoutCredentials(t *testing.T) {
	ctx := context.Background()
	startTestMaster(t, 5*time.Second)
	open := frameworkWithScheduler(t, "anonfw")

	// Off: an agent without the flag refuses a call without credentials
	// even from its executor's pod.
	addNode(t, "anon-off-node")
	offAddr := freeAddr(t)
	inprocess.RunAgent(t, env.Config, inprocess.AgentConfig{Node: "anon-off-node", Addr: offAddr})
	launchOnOffer(t, open, "anonfw", "anon-off-node", b.MakeTask("off", "").Resources("cpu", "1").Executor("off-ex", "img").Obj())
	offPod := podOf(t, open, map[string]string{kmv1.LabelExecutor: "off-ex"})
	runPod(t, offPod, testPeer)
	offKey := agent.ExecutorKey{Namespace: open, Framework: "anonfw", ExecutorID: "off-ex"}
	update := `"type":"UPDATE","update":{"status":{"task_id":"off","state":"TASK_STARTING","uuid":"u-1"}}`
	if code, msg := anonymousCall(t, offAddr, "", offKey, update); code != http.StatusUnauthorized ||
		!strings.Contains(msg, "no executor token") || !strings.Contains(msg, agent.FlagAnonymousNamespaces) || !strings.Contains(msg, "Bearer") {
		t.Errorf("opt-in off: %d %q, want 401 saying to send the token or opt the namespace in", code, msg)
	}

	// On, for namespace open only.
	addNode(t, "anon-node")
	addr := freeAddr(t)
	inprocess.RunAgent(t, env.Config, inprocess.AgentConfig{Node: "anon-node", Addr: addr, AnonymousExecutorNamespaces: []string{open}})
	launchOnOffer(t, open, "anonfw", "anon-node", b.MakeTask("t1", "").Resources("cpu", "1").Executor("e", "img").Obj())
	pod := podOf(t, open, map[string]string{kmv1.LabelExecutor: "e"})
	key := agent.ExecutorKey{Namespace: open, Framework: "anonfw", ExecutorID: "e"}
	starting := `"type":"UPDATE","update":{"status":{"task_id":"t1","state":"TASK_STARTING","uuid":"s-1"}}`

	// The executor's pod has another address than the caller's.
	runPod(t, pod, "10.244.7.7")
	waitState(t, open, "t1", kmv1.TaskStaging)
	eventually(t, "the agent to see the pod's address", func() bool {
		code, msg := anonymousCall(t, addr, "", key, starting)
		return code == http.StatusUnauthorized && strings.Contains(msg, "is not the address of a running executor pod")
	})
	if code, msg := anonymousCall(t, addr, "", key, starting); !strings.Contains(msg, testPeer) || !strings.Contains(msg, agent.FlagAnonymousNamespaces) {
		t.Errorf("another address: %d %q, want 401 naming the address and what to do", code, msg)
	}

	// From the executor's pod's address: accepted.
	runPod(t, pod, testPeer)
	eventually(t, "a call from the executor pod's address accepted", func() bool {
		code, _ := anonymousCall(t, addr, "", key, starting)
		return code == http.StatusAccepted
	})
	waitState(t, open, "t1", kmv1.TaskStarting)

	cases := []struct {
		name, authorization string
		key                 agent.ExecutorKey
		code                int
		want                string
	}{
		{name: "another executor named", key: agent.ExecutorKey{Namespace: open, Framework: "anonfw", ExecutorID: "f"}, code: 403, want: "the call names executor"},
		{name: "a bad token", authorization: "Bearer " + strings.Repeat("0", 64), key: key, code: 401, want: "not a service account token"},
		{name: "an empty bearer token", authorization: "Bearer ", key: key, code: 401, want: "Authorization: Bearer <token>"},
		{name: "another scheme", authorization: "Basic Zm9vOmJhcg==", key: key, code: 401, want: "no other scheme"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := anonymousCall(t, addr, tc.authorization, tc.key, `"type":"MESSAGE","message":{"data":"hi"}`)
			if code != tc.code || !strings.Contains(msg, tc.want) {
				t.Errorf("got %d %q, want %d containing %q", code, msg, tc.code, tc.want)
			}
		})
	}

	// While a pod of the node (of any namespace) has no address the agent
	// has seen, it may hold the caller's: no call without credentials is
	// taken, and the caller is told to retry.
	otherNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "agent-it-other-"}}
	if err := env.Client.Create(ctx, otherNS); err != nil {
		t.Fatal(err)
	}
	starting2 := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: otherNS.Name, Name: "starting"}, Spec: corev1.PodSpec{
		NodeName: "anon-node", AutomountServiceAccountToken: ptr.To(false), Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if err := env.Client.Create(ctx, starting2); err != nil {
		t.Fatal(err)
	}
	eventually(t, "calls without credentials held while a pod has no address", func() bool {
		code, msg := anonymousCall(t, addr, "", key, starting)
		return code == http.StatusServiceUnavailable && strings.Contains(msg, "has no address the agent has seen yet")
	})
	runPod(t, starting2, "10.244.7.20")
	eventually(t, "calls without credentials taken again once every pod has an address", func() bool {
		code, _ := anonymousCall(t, addr, "", key, `"type":"MESSAGE","message":{"data":"hi"}`)
		return code == http.StatusAccepted
	})

	// A pod of the same namespace and node that the agent did not launch,
	// at the caller's address: not an executor.
	runPod(t, pod, "10.244.7.8")
	bystander := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: open, Name: "bystander"}, Spec: corev1.PodSpec{
		NodeName: "anon-node", AutomountServiceAccountToken: ptr.To(false), Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if err := env.Client.Create(ctx, bystander); err != nil {
		t.Fatal(err)
	}
	runPod(t, bystander, testPeer)
	eventually(t, "a bystander pod's call refused", func() bool {
		code, msg := anonymousCall(t, addr, "", key, starting)
		return code == http.StatusUnauthorized && strings.Contains(msg, "is not the address of an executor of this agent")
	})
	if err := env.Client.Delete(ctx, bystander, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}

	// A Mesos executor without credentials: a task of the Mesos API on
	// the opted-in namespace's executor.
	var fw kmv1.Framework
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: open, Name: "anonfw"}, &fw); err != nil {
		t.Fatal(err)
	}
	name := mesoswire.TaskName(string(fw.UID), "Anon.1")
	tk := b.MakeTask(name, "").Resources("cpu", "500m").Executor("mesos-ex", "mesos-executor:1").Obj()
	tk.Annotations = map[string]string{mesoswire.AnnotationTaskID: "Anon.1"}
	launchOnOffer(t, open, "anonfw", "anon-node", tk)
	mpod := podOf(t, open, map[string]string{kmv1.LabelExecutor: "mesos-ex"})
	runPod(t, mpod, testPeer)
	ex := newMesosExecutor(t, mpod)
	ex.token = ""
	eventually(t, "a Mesos executor's call without credentials accepted", func() bool {
		code, _ := ex.send(t, mesoswire.MediaJSON, ex.call(executorv1.Call_HEARTBEAT))
		return code == http.StatusAccepted
	})
	ex.subscribe(t, mesoswire.MediaJSON)
	if id := ex.next(t, executorv1.Event_LAUNCH).GetLaunch().GetTask().GetTaskId().GetValue(); id != "Anon.1" {
		t.Fatalf("LAUNCH of task %q, want Anon.1", id)
	}
	ex.update(t, mesoswire.MediaJSON, "Anon.1", mesosv1.TaskState_TASK_FINISHED, nil)
	if st := waitState(t, open, name, kmv1.TaskFinished); st.Status.Source != kmv1.SourceExecutor {
		t.Errorf("the Mesos executor's update has source %s, want %s", st.Status.Source, kmv1.SourceExecutor)
	}
	// The call names another framework: Mesos's answer, as with a token.
	other := ex.call(executorv1.Call_MESSAGE)
	other.FrameworkId = &mesosv1.FrameworkID{Value: ptr.To("not-" + string(fw.UID))}
	other.Message = &executorv1.Call_Message{Data: []byte("hi")}
	if code, body := ex.send(t, mesoswire.MediaJSON, other); code != http.StatusBadRequest || !strings.Contains(body, "Framework cannot be found") {
		t.Errorf("a call naming another framework: %d %q, want 400 Framework cannot be found", code, body)
	}

	// A pod of a namespace that is not opted in, at the caller's address:
	// refused on its namespace, before anything else of it is looked at.
	runPod(t, mpod, "10.244.7.10")
	closed := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "agent-it-closed-"}}
	if err := env.Client.Create(ctx, closed); err != nil {
		t.Fatal(err)
	}
	closedPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: closed.Name, Name: "executor"}, Spec: corev1.PodSpec{
		NodeName: "anon-node", AutomountServiceAccountToken: ptr.To(false), Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if err := env.Client.Create(ctx, closedPod); err != nil {
		t.Fatal(err)
	}
	runPod(t, closedPod, testPeer)
	eventually(t, "a call from a namespace not opted in refused", func() bool {
		code, msg := anonymousCall(t, addr, "", agent.ExecutorKey{Namespace: closed.Name, Framework: "fw", ExecutorID: "c"}, `"type":"MESSAGE","message":{"data":"hi"}`)
		return code == http.StatusUnauthorized && strings.Contains(msg, "namespace "+closed.Name+" is not among") && strings.Contains(msg, agent.FlagAnonymousNamespaces)
	})

	// The executor's container has ended, its pod not yet: the address
	// may be another pod's already, so it is not taken as the executor's.
	runPod(t, closedPod, "10.244.7.11")
	runPod(t, pod, testPeer)
	eventually(t, "the executor's calls taken again", func() bool {
		code, _ := anonymousCall(t, addr, "", key, `"type":"MESSAGE","message":{"data":"hi"}`)
		return code == http.StatusAccepted
	})
	var ended corev1.Pod
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), &ended); err != nil {
		t.Fatal(err)
	}
	ended.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}
	if err := env.Client.Status().Update(ctx, &ended); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a call from an ended executor's address refused", func() bool {
		code, msg := anonymousCall(t, addr, "", key, `"type":"MESSAGE","message":{"data":"hi"}`)
		return code == http.StatusUnauthorized && strings.Contains(msg, "is not the address of a running executor pod")
	})
}
