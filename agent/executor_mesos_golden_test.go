package agent

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/goldenfile"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// goldenHooks answer what the Mesos form asks of a Task: one launched
// through the scheduler API.
type goldenHooks struct {
	floodHooks
	tasks []*kmv1.Task
}

func (h *goldenHooks) Task(_ context.Context, _, name string) (*kmv1.Task, error) {
	for _, t := range h.tasks {
		if name == t.Name {
			return t, nil
		}
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
	// A second task, of the first one's group on the same executor.
	sidecar := b.MakeTask(mesoswire.TaskName("fw-uid", "sidecar.1"), "ns").Resources("cpu", "100m", "memory", "32Mi").Executor("web-ex", "img").Obj()
	sidecar.Annotations = map[string]string{mesoswire.AnnotationTaskID: "sidecar.1"}
	sidecar.Spec.Data = mesoswire.SpecData([]byte("side"))
	sidecar.CreationTimestamp = metav1.Time{}
	m := &mesosStream{
		server: &ExecutorServer{Hooks: &goldenHooks{tasks: []*kmv1.Task{task, sidecar}}, Log: logr.Discard()},
		key:    ExecutorKey{Namespace: "ns", Framework: "fw", ExecutorID: "web-ex"}, agentID: "node-1-1a2b3c4d",
		id: MesosIdentity{FrameworkID: "fw-uid", FrameworkName: "fw", Role: "eng", Hostname: "node-1"},
	}
	events := map[string]executorapi.Event{
		"subscribed": {Type: executorapi.EventSubscribed},
		"launch":     {Type: executorapi.EventLaunch, Launch: &executorapi.Launch{Task: executorapi.TaskInfo{TaskID: task.Name, Resources: task.Spec.Resources.Core()}}},
		"launch_group": {Type: executorapi.EventLaunchGroup, LaunchGroup: &executorapi.LaunchGroup{Tasks: []executorapi.TaskInfo{
			{TaskID: task.Name, Resources: task.Spec.Resources.Core()}, {TaskID: sidecar.Name, Resources: sidecar.Spec.Resources.Core()}}}},
		"kill":         {Type: executorapi.EventKill, Kill: &executorapi.Kill{TaskID: task.Name, GracePeriodSeconds: ptr.To(int64(5))}},
		"acknowledged": {Type: executorapi.EventAcknowledged, Acknowledged: &executorapi.Acknowledged{TaskID: task.Name, UUID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8"}},
		"message":      {Type: executorapi.EventMessage, Message: &executorapi.Message{Data: "hello executor"}},
		"shutdown":     {Type: executorapi.EventShutdown},
		"heartbeat":    {Type: executorapi.EventHeartbeat},
		"error":        {Type: executorapi.EventError, Error: &executorapi.Error{Message: "the agent is shutting down"}},
	}
	for name, ev := range events {
		t.Run(name, func(t *testing.T) {
			goldenfile.MesosEvent(t, filepath.Join("testdata", "golden", "mesos-executor"), name, m.event(context.Background(), ev))
		})
	}
}
