package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/kubemesos/kubemesos/agent"
	"github.com/kubemesos/kubemesos/agent/executorapi"
	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	executorv1 "github.com/kubemesos/kubemesos/api/mesos/v1/executor"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/mesosjson"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
	"github.com/kubemesos/kubemesos/internal/recordio"
)

// mesosExecutor speaks the Mesos v1 executor API to the agent as a Mesos
// executor does: from the MESOS_* environment of its pod, in JSON or
// protobuf.
type mesosExecutor struct {
	url, token              string
	frameworkID, executorID string
	events                  chan *executorv1.Event
}

func newMesosExecutor(t *testing.T, pod *corev1.Pod) *mesosExecutor {
	t.Helper()
	token := newTestExecutor(t, pod).token
	return &mesosExecutor{url: "http://" + envValue(pod, "MESOS_AGENT_ENDPOINT") + executorapi.Path, token: token,
		frameworkID: envValue(pod, "MESOS_FRAMEWORK_ID"), executorID: envValue(pod, "MESOS_EXECUTOR_ID"),
		events: make(chan *executorv1.Event, 100)}
}

// call builds a call of the executor.
func (e *mesosExecutor) call(typ executorv1.Call_Type) *executorv1.Call {
	return &executorv1.Call{Type: typ.Enum(), FrameworkId: &mesosv1.FrameworkID{Value: ptr.To(e.frameworkID)},
		ExecutorId: &mesosv1.ExecutorID{Value: ptr.To(e.executorID)}}
}

// post sends body with the headers given; it returns the response.
func (e *mesosExecutor) post(ctx context.Context, t *testing.T, contentType, accept string, body []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if e.token != "" { // else a call without credentials
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// send posts c in mediaType and returns the status and body of the answer.
func (e *mesosExecutor) send(t *testing.T, mediaType string, c *executorv1.Call) (int, string) {
	t.Helper()
	resp := e.post(context.Background(), t, mediaType, "", encodeMesos(t, mediaType, c))
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func encodeMesos(t *testing.T, mediaType string, m proto.Message) []byte {
	t.Helper()
	c, herr := mesoswire.RequestCodec(mediaType)
	if herr != nil {
		t.Fatal(herr)
	}
	b, err := c.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// subscribe opens a stream whose events arrive in mediaType.
func (e *mesosExecutor) subscribe(t *testing.T, mediaType string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := e.call(executorv1.Call_SUBSCRIBE)
	c.Subscribe = &executorv1.Call_Subscribe{}
	resp := e.post(ctx, t, mesoswire.MediaJSON, mediaType, encodeMesos(t, mesoswire.MediaJSON, c))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != mediaType {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("SUBSCRIBE: %s, Content-Type %q: %s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	go func() {
		defer resp.Body.Close()
		rr := recordio.NewReader(resp.Body, 1<<20)
		for {
			rec, err := rr.ReadRecord()
			if err != nil {
				return
			}
			ev := &executorv1.Event{}
			if mediaType == mesoswire.MediaProtobuf {
				err = proto.Unmarshal(rec, ev)
			} else {
				err = mesosjson.Unmarshal(rec, ev)
			}
			if err != nil {
				t.Errorf("an event that does not decode as %s: %v", mediaType, err)
				return
			}
			e.events <- ev
		}
	}()
}

func (e *mesosExecutor) next(t *testing.T, want executorv1.Event_Type) *executorv1.Event {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-e.events:
			if ev.GetType() == want {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event", want)
		}
	}
}

// update sends a status as a Mesos executor does, and returns its uuid.
func (e *mesosExecutor) update(t *testing.T, mediaType, taskID string, state mesosv1.TaskState, data []byte) []byte {
	t.Helper()
	u := uuid.New()
	c := e.call(executorv1.Call_UPDATE)
	c.Update = &executorv1.Call_Update{Status: &mesosv1.TaskStatus{TaskId: &mesosv1.TaskID{Value: ptr.To(taskID)}, State: state.Enum(),
		Source: mesosv1.TaskStatus_SOURCE_EXECUTOR.Enum(), Uuid: u[:], Data: data, ExecutorId: c.ExecutorId}}
	if code, body := e.send(t, mediaType, c); code != http.StatusAccepted {
		t.Fatalf("UPDATE %s: %d %s", state, code, body)
	}
	return u[:]
}

// TestMesosExecutorRunsATask: an executor speaking the Mesos v1 executor API
// finds its framework, executor and agent in the MESOS_* environment of its
// pod, subscribes with protobuf events, gets its task with the Mesos task
// ID and the bytes it was launched with, and its updates, in JSON, reach the
// Task and are acknowledged with their uuids.
func TestMesosExecutorRunsATask(t *testing.T) {
	startTestMaster(t, 5*time.Second)
	addNode(t, "mesos-exec-node")
	startTestAgent(t, "mesos-exec-node", t.TempDir(), freeAddr(t), time.Minute, nil)
	ns := frameworkWithScheduler(t, "mesosfw")
	var fw kmv1.Framework
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "mesosfw"}, &fw); err != nil {
		t.Fatal(err)
	}
	fwID := string(fw.UID)
	// A task as the master's scheduler API creates it from a TaskInfo.
	data := []byte{0, 1, 0xfe, 'x'}
	name := mesoswire.TaskName(fwID, "Web.1")
	// A Mesos executor ID is not a DNS-1123 label, and may be 255 bytes
	// long: the API server takes it (in spec and status), and the pod's
	// name and label are derived from it.
	execID := "Web Executor_1.ü"
	execID += strings.Repeat("x", 255-len(execID))
	tk := b.MakeTask(name, "").Resources("cpu", "500m", "memory", "64Mi").Executor(execID, "mesos-executor:1").Obj()
	tk.Annotations = map[string]string{mesoswire.AnnotationTaskID: "Web.1"}
	tk.Spec.Data = mesoswire.SpecData(data)
	tk.Spec.Ports = []kmv1.PortRange{{Begin: 31000, End: 31001}}
	launchOnOffer(t, ns, "mesosfw", "mesos-exec-node", tk)
	pod := podOf(t, ns, map[string]string{kmv1.LabelComponent: "executor"})
	if pod.Annotations[kmv1.AnnotationExecutorID] != execID || len(validation.IsDNS1123Label(pod.Name)) > 0 ||
		!strings.HasPrefix(pod.Labels[kmv1.LabelExecutor], "web-executor-1") {
		t.Errorf("executor pod %s: annotations %v labels %v", pod.Name, pod.Annotations, pod.Labels)
	}

	for k, want := range map[string]string{
		"MESOS_FRAMEWORK_ID": fwID, "MESOS_EXECUTOR_ID": execID, "MESOS_SANDBOX": agent.SandboxDir, "MESOS_DIRECTORY": agent.SandboxDir,
		"MESOS_CHECKPOINT": "1", "MESOS_RECOVERY_TIMEOUT": "1mins", "MESOS_SUBSCRIPTION_BACKOFF_MAX": "2secs",
		"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": "30secs",
	} {
		if got := envValue(pod, k); got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if envValue(pod, "MESOS_AGENT_ENDPOINT") == "" {
		t.Error("no MESOS_AGENT_ENDPOINT")
	}
	for _, v := range pod.Spec.Volumes {
		if v.Projected != nil {
			// The executor reads its token once: it must outlive the hour
			// of an SDK executor's token.
			if exp := v.Projected.Sources[0].ServiceAccountToken.ExpirationSeconds; exp == nil || *exp != executorapi.MesosTokenExpirationSeconds {
				t.Errorf("the token of a Mesos API task's executor lives %v s, want %d", exp, executorapi.MesosTokenExpirationSeconds)
			}
		}
	}
	if c := pod.Spec.Containers[0]; c.WorkingDir != agent.SandboxDir {
		t.Errorf("a Mesos API task starts in %q, want its sandbox %s", c.WorkingDir, agent.SandboxDir)
	}
	kubelet(t, pod, corev1.PodRunning, 0)

	// This executor calls the agent as libmesos's executor library does:
	// at the address and process ID of MESOS_SLAVE_PID.
	ex := newMesosExecutor(t, pod)
	process, addr, ok := strings.Cut(envValue(pod, "MESOS_SLAVE_PID"), "@")
	if !ok || process != "slave(1)" || addr != envValue(pod, "MESOS_AGENT_ENDPOINT") {
		t.Fatalf("MESOS_SLAVE_PID=%q, want slave(1)@ and the agent's endpoint", envValue(pod, "MESOS_SLAVE_PID"))
	}
	ex.url = "http://" + addr + "/" + process + "/api/v1/executor"
	ex.subscribe(t, mesoswire.MediaProtobuf)
	sub := ex.next(t, executorv1.Event_SUBSCRIBED).GetSubscribed()
	if sub.GetFrameworkInfo().GetId().GetValue() != fwID || sub.GetExecutorInfo().GetExecutorId().GetValue() != execID ||
		sub.GetAgentInfo().GetId().GetValue() == "" || sub.GetAgentInfo().GetHostname() != "mesos-exec-node" {
		t.Errorf("SUBSCRIBED %v", sub)
	}
	launch := ex.next(t, executorv1.Event_LAUNCH).GetLaunch().GetTask()
	if launch.GetTaskId().GetValue() != "Web.1" || !bytes.Equal(launch.GetData(), data) || launch.GetAgentId().GetValue() != sub.GetAgentInfo().GetId().GetValue() {
		t.Fatalf("LAUNCH %v", launch)
	}
	cpus, ports := 0.0, ""
	for _, r := range launch.GetResources() {
		switch r.GetName() {
		case "cpus":
			cpus = r.GetScalar().GetValue()
		case "ports":
			for _, x := range r.GetRanges().GetRange() {
				ports += fmt.Sprintf("[%d-%d]", x.GetBegin(), x.GetEnd())
			}
		}
	}
	if cpus != 0.5 || ports != "[31000-31001]" {
		t.Errorf("LAUNCH resources %v, want cpus 0.5 and ports [31000-31001]", launch.GetResources())
	}

	u := ex.update(t, mesoswire.MediaJSON, "Web.1", mesosv1.TaskState_TASK_RUNNING, nil)
	ack := ex.next(t, executorv1.Event_ACKNOWLEDGED).GetAcknowledged()
	if ack.GetTaskId().GetValue() != "Web.1" || !bytes.Equal(ack.GetUuid(), u) {
		t.Errorf("ACKNOWLEDGED %v, want Web.1 and uuid %x", ack, u)
	}
	waitState(t, ns, name, kmv1.TaskRunning)

	// Heartbeats are answered and change nothing.
	if code, body := ex.send(t, mesoswire.MediaProtobuf, ex.call(executorv1.Call_HEARTBEAT)); code != http.StatusAccepted {
		t.Errorf("HEARTBEAT: %d %s", code, body)
	}

	ex.update(t, mesoswire.MediaProtobuf, "Web.1", mesosv1.TaskState_TASK_FINISHED, []byte("area=3.14"))
	ex.next(t, executorv1.Event_ACKNOWLEDGED)
	done := waitState(t, ns, name, kmv1.TaskFinished)
	if done.Status.Data != "area=3.14" || done.Status.Source != kmv1.SourceExecutor {
		t.Errorf("finished status %+v", done.Status)
	}
}

// TestMesosExecutorAPIRefusals: calls in the Mesos form that Mesos refuses
// get Mesos's status and message, and change nothing.
func TestMesosExecutorAPIRefusals(t *testing.T) {
	startTestMaster(t, 5*time.Second)
	addNode(t, "mesos-bad-node")
	startTestAgent(t, "mesos-bad-node", t.TempDir(), freeAddr(t), time.Minute, nil)
	ns := frameworkWithScheduler(t, "badfw")
	launchOnOffer(t, ns, "badfw", "mesos-bad-node", b.MakeTask("t1", "").Resources("cpu", "100m").Executor("ex", "mesos-executor:1").Obj())
	pod := podOf(t, ns, map[string]string{kmv1.LabelExecutor: "ex"})
	kubelet(t, pod, corev1.PodRunning, 0)
	ex := newMesosExecutor(t, pod)

	json, pb := mesoswire.MediaJSON, mesoswire.MediaProtobuf
	status := func(change func(*mesosv1.TaskStatus)) *executorv1.Call {
		u := uuid.New()
		c := ex.call(executorv1.Call_UPDATE)
		c.Update = &executorv1.Call_Update{Status: &mesosv1.TaskStatus{TaskId: &mesosv1.TaskID{Value: ptr.To("t1")}, State: mesosv1.TaskState_TASK_RUNNING.Enum(),
			Source: mesosv1.TaskStatus_SOURCE_EXECUTOR.Enum(), Uuid: u[:]}}
		change(c.Update.Status)
		return c
	}
	otherFramework := ex.call(executorv1.Call_MESSAGE)
	otherFramework.FrameworkId.Value = ptr.To("not-the-framework")
	otherFramework.Message = &executorv1.Call_Message{Data: []byte("hi")}
	otherExecutor := ex.call(executorv1.Call_MESSAGE)
	otherExecutor.ExecutorId.Value = ptr.To("someone-else")
	otherExecutor.Message = &executorv1.Call_Message{Data: []byte("hi")}
	for _, tc := range []struct {
		name        string
		contentType string
		accept      string
		body        []byte
		code        int
		msg         string
	}{
		{"no type", json, "", []byte(`{"framework_id":{"value":"f"},"executor_id":{"value":"e"}}`), http.StatusBadRequest, "Expecting 'type' to be present"},
		{"malformed JSON", json, "", []byte(`{"type":`), http.StatusBadRequest, "Failed to parse body into JSON"},
		{"malformed protobuf", pb, "", []byte{0xff, 0xff, 0xff}, http.StatusBadRequest, "Failed to parse body into Call protobuf"},
		{"an unknown media type", "application/xml", "", []byte(`<call/>`), http.StatusUnsupportedMediaType, "Expecting 'Content-Type' of application/json or application/x-protobuf"},
		{"SUBSCRIBE that accepts neither type", json, "text/html", encodeMesos(t, json, &executorv1.Call{Type: executorv1.Call_SUBSCRIBE.Enum(),
			FrameworkId: ex.call(0).FrameworkId, ExecutorId: ex.call(0).ExecutorId, Subscribe: &executorv1.Call_Subscribe{}}), http.StatusNotAcceptable, "Expecting 'Accept' to allow"},
		{"another framework", json, "", encodeMesos(t, json, otherFramework), http.StatusBadRequest, "Framework cannot be found"},
		{"another executor", pb, "", encodeMesos(t, pb, otherExecutor), http.StatusBadRequest, "Executor cannot be found"},
		{"UPDATE without a source", json, "", encodeMesos(t, json, status(func(s *mesosv1.TaskStatus) { s.Source = nil })), http.StatusBadRequest, "expecting 'SOURCE_EXECUTOR'"},
		{"UPDATE of TASK_STAGING", json, "", encodeMesos(t, json, status(func(s *mesosv1.TaskStatus) { s.State = mesosv1.TaskState_TASK_STAGING.Enum() })), http.StatusBadRequest, "TASK_STAGING"},
		{"UPDATE with a short uuid", pb, "", encodeMesos(t, pb, status(func(s *mesosv1.TaskStatus) { s.Uuid = []byte("u1") })), http.StatusBadRequest, "UUID"},
		{"UPDATE of a state no executor reports", pb, "", encodeMesos(t, pb, status(func(s *mesosv1.TaskStatus) { s.State = mesosv1.TaskState_TASK_GONE.Enum() })), http.StatusBadRequest, "TASK_GONE"},
		{"UPDATE with binary data", json, "", encodeMesos(t, json, status(func(s *mesosv1.TaskStatus) { s.Data = []byte{0xff} })), http.StatusBadRequest, "UTF-8"},
		{"UPDATE of another executor's task", json, "", encodeMesos(t, json, status(func(s *mesosv1.TaskStatus) { s.TaskId.Value = ptr.To("nope") })), http.StatusNotFound, "no such task"},
	} {
		resp := ex.post(context.Background(), t, tc.contentType, tc.accept, tc.body)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.msg) {
			t.Errorf("%s: %d %q, want %d with %q", tc.name, resp.StatusCode, body, tc.code, tc.msg)
		}
	}
	if st := task(t, ns, "t1").Status.State; st == kmv1.TaskRunning {
		t.Errorf("t1 is %s after refused calls only", st)
	}

	// An update the agent refused stays unacknowledged in the executor,
	// which sends it again with every SUBSCRIBE: it is left out, so that
	// the executor can still subscribe (Mesos does not check them either).
	sub := ex.call(executorv1.Call_SUBSCRIBE)
	bad := status(func(s *mesosv1.TaskStatus) { s.Data = []byte{0xff} })
	sub.Subscribe = &executorv1.Call_Subscribe{UnacknowledgedUpdates: []*executorv1.Call_Update{bad.Update}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp := ex.post(ctx, t, pb, pb, encodeMesos(t, pb, sub))
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("SUBSCRIBE with an update the agent refuses: %d %q, want 200", resp.StatusCode, body)
	}
	if st := task(t, ns, "t1").Status.State; st == kmv1.TaskRunning {
		t.Errorf("t1 is %s after a refused update came back with SUBSCRIBE", st)
	}

	// Past its message rate an executor of the Mesos form gets 503, which
	// Mesos's executor library drops calmly, never the 429 of the
	// kubemesos form, which it would take for an ERROR to abort on.
	codes := map[int]int{}
	for i := range 80 {
		m := ex.call(executorv1.Call_MESSAGE)
		m.Message = &executorv1.Call_Message{Data: fmt.Appendf(nil, "m%d", i)}
		code, _ := ex.send(t, json, m)
		codes[code]++
	}
	if codes[http.StatusServiceUnavailable] == 0 || codes[http.StatusAccepted]+codes[http.StatusServiceUnavailable] != 80 {
		t.Errorf("80 MESSAGE calls at once from an executor of the Mesos form: %v, want 202 and, past the rate, 503", codes)
	}
}
