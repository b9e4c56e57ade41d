package mesoscompat

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/kubemesos/kubemesos/agent"
	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// agentSide is the rest of an agent, as the executor API asks it: one
// executor of one framework, one task launched through the Mesos scheduler
// API, and what the executor sends.
type agentSide struct {
	key  agent.ExecutorKey
	task *kmv1.Task

	mu       sync.Mutex
	updates  []executorapi.TaskStatus
	messages []string
}

func (a *agentSide) AgentID() string { return "agent-1" }

func (a *agentSide) Authenticate(_ context.Context, c agent.Credentials) (agent.ExecutorKey, error) {
	if c.BearerToken() != "executor-token" {
		return agent.ExecutorKey{}, &agent.CallError{Status: 401, Err: errUnauthorized}
	}
	return a.key, nil
}

func (a *agentSide) Subscribed(context.Context, agent.ExecutorKey, *executorapi.Subscribe) {}
func (a *agentSide) Unsubscribed(context.Context, agent.ExecutorKey)                       {}

func (a *agentSide) Update(_ context.Context, _ agent.ExecutorKey, s executorapi.TaskStatus) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.updates = append(a.updates, s)
	return nil
}

func (a *agentSide) Message(_ context.Context, _ agent.ExecutorKey, m executorapi.Message) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.messages = append(a.messages, m.Data)
	return nil
}

func (a *agentSide) AcknowledgeMessages(context.Context, agent.ExecutorKey, []executorapi.MessageID) error {
	return nil
}

func (a *agentSide) MesosIdentity(context.Context, agent.ExecutorKey) (agent.MesosIdentity, error) {
	return agent.MesosIdentity{FrameworkID: "fw-uid", FrameworkName: "web", Role: "web", Hostname: "node-1"}, nil
}

func (a *agentSide) Task(_ context.Context, _, name string) (*kmv1.Task, error) {
	if name == a.task.Name {
		return a.task, nil
	}
	return nil, nil
}

type unauthorizedError struct{}

func (unauthorizedError) Error() string { return "not an executor token" }

var errUnauthorized = unauthorizedError{}

// TestMesosGoExecutor runs mesos-go's executor library against the agent's
// executor API: its configuration from the environment of an executor pod
// as the agent builds it, SUBSCRIBE, LAUNCH, LAUNCH_GROUP, UPDATE and ACKNOWLEDGED with the
// update's uuid, MESSAGE and HEARTBEAT, in protobuf and in JSON.
func TestMesosGoExecutor(t *testing.T) {
	for _, mt := range []string{codecs.MediaTypeProtobuf.ContentType(), codecs.MediaTypeJSON.ContentType()} {
		t.Run(mt, func(t *testing.T) { runMesosGoExecutor(t, mt) })
	}
}

func runMesosGoExecutor(t *testing.T, mediaType string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	task := &kmv1.Task{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: mesoswire.TaskName("fw-uid", "web.1"),
			Annotations:     map[string]string{mesoswire.AnnotationTaskID: "web.1"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "Framework", Name: "web", UID: "fw-uid"}}},
		Spec: kmv1.TaskSpec{Framework: "web", Data: mesoswire.SpecData([]byte{0, 0xff}),
			Executor: &kmv1.ExecutorInfo{ExecutorID: "web-ex", Image: "example/executor:1"}},
	}
	side := &agentSide{key: agent.ExecutorKey{Namespace: "team", Framework: "web", ExecutorID: "web-ex"}, task: task}
	srv := &agent.ExecutorServer{Hooks: side, Log: logr.Discard(), Clock: clock.RealClock{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ctx, ln) }()

	// The executor's environment, as the agent writes it into the pod,
	// and the token that the pod's command reads into it.
	pod, err := agent.ExecutorPod(task, "web-ex-pod", "agent-1", "fw-uid",
		agent.Options{NodeName: "node-1", Endpoint: ln.Addr().String(), ExecutorRegistrationTimeout: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range pod.Spec.Containers[0].Env {
		t.Setenv(e.Name, e.Value)
	}
	t.Setenv("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", "executor-token")
	cfg, err := config.FromEnv()
	if err != nil {
		t.Fatalf("mesos-go cannot read the executor environment: %v", err)
	}
	if cfg.FrameworkID != "fw-uid" || cfg.ExecutorID != "web-ex" || !cfg.Checkpoint || cfg.RecoveryTimeout != time.Minute ||
		cfg.SubscriptionBackoffMax != 2*time.Second || cfg.ExecutorShutdownGracePeriod != 30*time.Second || cfg.Sandbox != agent.SandboxDir {
		t.Errorf("configuration %+v", cfg)
	}

	seen := &mediaTypes{}
	endpoint := url.URL{Scheme: "http", Host: cfg.AgentEndpoint, Path: executorapi.Path}
	cli := httpcli.New(
		httpcli.Endpoint(endpoint.String()),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
		httpcli.DefaultHeader("Authorization", "Bearer "+os.Getenv("MESOS_EXECUTOR_AUTHENTICATION_TOKEN")),
		httpcli.Do(httpcli.With(httpcli.Timeout(10*time.Second), httpcli.WrapRoundTripper(func(rt http.RoundTripper) http.RoundTripper {
			return seenTypes{rt: rt, seen: seen}
		}))),
	)
	if mediaType == codecs.MediaTypeJSON.ContentType() {
		cli.With(httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeJSON]))
	}
	opts := executor.CallOptions{calls.Framework(cfg.FrameworkID), calls.Executor(cfg.ExecutorID)}
	sender := calls.SenderWith(httpexec.NewSender(cli.Send), opts...)
	subscriber := calls.SenderWith(httpexec.NewSender(cli.Send, httpcli.Close(true)), opts...)

	resp, err := subscriber.Send(ctx, calls.NonStreaming(calls.Subscribe(nil, nil)))
	if err != nil {
		t.Fatalf("SUBSCRIBE: %v", err)
	}
	defer resp.Close()
	events := make(chan executor.Event, 16)
	go func() {
		for {
			var e executor.Event
			if err := resp.Decode(&e); err != nil {
				close(events)
				return
			}
			events <- e
		}
	}()
	next := func(want executor.Event_Type) executor.Event {
		t.Helper()
		select {
		case e, ok := <-events:
			if !ok || e.Type != want {
				t.Fatalf("got %v (stream open %v), want %s", e.Type, ok, want)
			}
			return e
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s event", want)
		}
		return executor.Event{}
	}
	sub := next(executor.Event_SUBSCRIBED).Subscribed
	if sub.FrameworkInfo.GetID().GetValue() != "fw-uid" || sub.AgentInfo.GetID().GetValue() != "agent-1" || sub.ExecutorInfo.ExecutorID.Value != "web-ex" {
		t.Errorf("SUBSCRIBED %+v", sub)
	}

	srv.Send(side.key, executorapi.Event{Type: executorapi.EventLaunch, Launch: &executorapi.Launch{Task: executorapi.TaskInfo{TaskID: task.Name}}})
	launch := next(executor.Event_LAUNCH).Launch.Task
	if launch.TaskID.Value != "web.1" || string(launch.Data) != "\x00\xff" || launch.AgentID.Value != "agent-1" {
		t.Errorf("LAUNCH %+v, want task web.1 with its bytes", launch)
	}

	uuid := []byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	status := mesos.TaskStatus{TaskID: launch.TaskID, State: mesos.TASK_RUNNING.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum(),
		UUID: uuid, ExecutorID: &mesos.ExecutorID{Value: "web-ex"}, Data: []byte("port=8080")}
	r, err := sender.Send(ctx, calls.NonStreaming(calls.Update(status)))
	if err != nil {
		t.Fatalf("UPDATE: %v", err)
	}
	if r != nil {
		r.Close()
	}
	side.mu.Lock()
	got := side.updates
	side.mu.Unlock()
	if len(got) != 1 || got[0].TaskID != task.Name || got[0].State != "TASK_RUNNING" || got[0].Data != "port=8080" {
		t.Fatalf("the agent took %+v, want TASK_RUNNING of Task %s", got, task.Name)
	}
	srv.Send(side.key, executorapi.Event{Type: executorapi.EventAcknowledged, Acknowledged: &executorapi.Acknowledged{TaskID: task.Name, UUID: got[0].UUID}})
	ack := next(executor.Event_ACKNOWLEDGED).Acknowledged
	if ack.TaskID.Value != "web.1" || string(ack.UUID) != string(uuid) {
		t.Errorf("ACKNOWLEDGED %+v, want web.1 with the update's uuid", ack)
	}

	for _, c := range []*executor.Call{calls.Message([]byte("hello scheduler")), calls.Heartbeat()} {
		r, err := sender.Send(ctx, calls.NonStreaming(c))
		if err != nil {
			t.Fatalf("%s: %v", c.Type, err)
		}
		if r != nil {
			r.Close()
		}
	}
	side.mu.Lock()
	msgs := side.messages
	side.mu.Unlock()
	if len(msgs) != 1 || msgs[0] != "hello scheduler" {
		t.Errorf("messages %q", msgs)
	}

	// A task group, as the agent sends one to an executor of the Mesos
	// form: mesos-go decodes it as LAUNCH_GROUP with every task.
	srv.Send(side.key, executorapi.Event{Type: executorapi.EventLaunchGroup, LaunchGroup: &executorapi.LaunchGroup{Tasks: []executorapi.TaskInfo{
		{TaskID: task.Name}, {TaskID: "sidecar.1", Data: "side"}}}})
	group := next(executor.Event_LAUNCH_GROUP).LaunchGroup.TaskGroup.Tasks
	if len(group) != 2 || group[0].TaskID.Value != "web.1" || string(group[0].Data) != "\x00\xff" || group[1].TaskID.Value != "sidecar.1" ||
		string(group[1].Data) != "side" || group[1].AgentID.Value != "agent-1" {
		t.Errorf("LAUNCH_GROUP %+v, want web.1 with its bytes and sidecar.1", group)
	}

	srv.Send(side.key, executorapi.Event{Type: executorapi.EventKill, Kill: &executorapi.Kill{TaskID: task.Name}})
	if kill := next(executor.Event_KILL).Kill; kill.TaskID.Value != "web.1" {
		t.Errorf("KILL %+v", kill)
	}
	srv.Send(side.key, executorapi.Event{Type: executorapi.EventShutdown})
	next(executor.Event_SHUTDOWN)

	seen.mu.Lock()
	defer seen.mu.Unlock()
	if len(seen.types) < 5 { // SUBSCRIBE and its stream, UPDATE, MESSAGE, HEARTBEAT
		t.Errorf("saw the media types of %d calls and answers, want at least 5", len(seen.types))
	}
	for _, ct := range seen.types {
		if ct != mediaType {
			t.Errorf("a call or answer in %q, want all in %s: %q", ct, mediaType, seen.types)
		}
	}
}

// mediaTypes records the Content-Type of every call and of every answer
// with a body.
type mediaTypes struct {
	mu    sync.Mutex
	types []string
}

type seenTypes struct {
	rt   http.RoundTripper
	seen *mediaTypes
}

func (s seenTypes) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.rt.RoundTrip(req)
	s.seen.mu.Lock()
	defer s.seen.mu.Unlock()
	s.seen.types = append(s.seen.types, req.Header.Get("Content-Type"))
	if err == nil && resp.StatusCode == http.StatusOK {
		s.seen.types = append(s.seen.types, resp.Header.Get("Content-Type"))
	}
	return resp, err
}
