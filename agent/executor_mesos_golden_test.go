package agent

import (
	"context"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-logr/logr"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	executorv1 "github.com/kubemesos/kubemesos/api/mesos/v1/executor"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden from what the events encode to now")

// goldenHooks answer what the Mesos form asks of a Task: one launched
// through the scheduler API.
type goldenHooks struct {
	floodHooks
	task *kmv1.Task
}

func (h *goldenHooks) Task(_ context.Context, _, name string) (*kmv1.Task, error) {
	if name == h.task.Name {
		return h.task, nil
	}
	return nil, nil
}

// TestGoldenMesosExecutorEvents pins the JSON and protobuf encodings of
// every event the Mesos form of the executor API sends, built by the
// function that builds them for a stream.
func TestGoldenMesosExecutorEvents(t *testing.T) {
	task := b.MakeTask(mesoswire.TaskName("fw-uid", "web.1"), "ns").Resources("cpu", "500m", "memory", "64Mi").Executor("web-ex", "img").Obj()
	task.Annotations = map[string]string{mesoswire.AnnotationTaskID: "web.1"}
	task.Spec.Data = mesoswire.SpecData([]byte{0, 1, 0xfe})
	task.Spec.Ports = []kmv1.PortRange{{Begin: 31000, End: 31001}}
	task.CreationTimestamp = metav1.Time{}
	m := &mesosStream{
		server: &ExecutorServer{Hooks: &goldenHooks{task: task}, Log: logr.Discard()},
		key:    ExecutorKey{Namespace: "ns", Framework: "fw", ExecutorID: "web-ex"}, agentID: "node-1-1a2b3c4d",
		id: MesosIdentity{FrameworkID: "fw-uid", FrameworkName: "fw", Role: "eng", Hostname: "node-1"},
	}
	events := map[string]executorapi.Event{
		"subscribed":   {Type: executorapi.EventSubscribed},
		"launch":       {Type: executorapi.EventLaunch, Launch: &executorapi.Launch{Task: executorapi.TaskInfo{TaskID: task.Name, Resources: task.Spec.Resources.Core()}}},
		"kill":         {Type: executorapi.EventKill, Kill: &executorapi.Kill{TaskID: task.Name, GracePeriodSeconds: ptr.To(int64(5))}},
		"acknowledged": {Type: executorapi.EventAcknowledged, Acknowledged: &executorapi.Acknowledged{TaskID: task.Name, UUID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8"}},
		"message":      {Type: executorapi.EventMessage, Message: &executorapi.Message{Data: "hello executor"}},
		"shutdown":     {Type: executorapi.EventShutdown},
		"heartbeat":    {Type: executorapi.EventHeartbeat},
		"error":        {Type: executorapi.EventError, Error: &executorapi.Error{Message: "the agent is shutting down"}},
	}
	for name, ev := range events {
		t.Run(name, func(t *testing.T) {
			e := m.event(context.Background(), ev)
			js, err := mesoswire.JSON.Encode(e)
			if err != nil {
				t.Fatal(err)
			}
			pb, err := proto.MarshalOptions{Deterministic: true}.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name+".json", append(js, '\n'))
			golden(t, name+".pb.hex", []byte(hex.EncodeToString(pb)+"\n"))
			var back executorv1.Event
			if err := proto.Unmarshal(pb, &back); err != nil || !proto.Equal(&back, e) {
				t.Errorf("protobuf reads back as %v (%v), want %v", &back, err, e)
			}
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", "mesos-executor", name)
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s (run with -update-golden to write it): %v", path, err)
	}
	if string(got) != string(want) {
		t.Errorf("%s changed:\n got %s\nwant %s\n(run with -update-golden if the change is meant)", path, got, want)
	}
}
