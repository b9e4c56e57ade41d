package mesosapi_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/mesosapi"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

func scalar(name string, v float64) *mesosv1.Resource {
	return &mesosv1.Resource{Name: &name, Type: mesosv1.Value_SCALAR.Enum(), Scalar: &mesosv1.Value_Scalar{Value: &v}}
}

// TestFrameworkLifecycle drives a framework through the API as a Mesos
// scheduler does, in both encodings: SUBSCRIBE, OFFERS, ACCEPT with
// LAUNCH, UPDATE and ACKNOWLEDGE as the task runs and finishes, DECLINE,
// KILL, RECONCILE and TEARDOWN.
func TestFrameworkLifecycle(t *testing.T) {
	for i, mt := range []string{mesoswire.MediaJSON, mesoswire.MediaProtobuf} {
		t.Run(mt, func(t *testing.T) {
			ctx := context.Background()
			ns := newNamespace(t)
			node := []string{"json-node", "proto-node"}[i]
			addAgent(t, node, "127.0.0.1:5051", "cpu", "4", "memory", "8Gi")
			url := startAPI(t, apiOptions(t, ns), false)
			es := subscribe(t, url, mt, frameworkInfo("lifecycle"))
			fwID := es.next(schedulerv1.Event_SUBSCRIBED).GetSubscribed().GetFrameworkId()
			send := func(c *schedulerv1.Call) {
				t.Helper()
				c.FrameworkId = fwID
				if code, body := call(t, url, mt, es.id, c); code != http.StatusAccepted || body != "" {
					t.Fatalf("%s answered %d %q, want 202", c.GetType(), code, body)
				}
			}

			// OFFERS, in Mesos units, with the agent's URL.
			offer := es.next(schedulerv1.Event_OFFERS).GetOffers().GetOffers()[0]
			res := map[string]float64{}
			for _, r := range offer.GetResources() {
				if r.GetType() != mesosv1.Value_SCALAR || r.GetAllocationInfo().GetRole() != "*" {
					t.Errorf("resource %v: want a scalar allocated to role *", r)
				}
				res[r.GetName()] = r.GetScalar().GetValue()
			}
			if !proto.Equal(offer.GetFrameworkId(), fwID) || offer.GetHostname() != node || offer.GetAgentId().GetValue() == "" ||
				offer.GetUrl().GetAddress().GetIp() != "127.0.0.1" || offer.GetUrl().GetAddress().GetPort() != 5051 || offer.GetUrl().GetPath() != "/slave(1)" ||
				!cmp.Equal(res, map[string]float64{"cpus": 4, "mem": 8192}) {
				t.Fatalf("offer %v: want 4 cpus and 8192 MB on %s at 127.0.0.1:5051", offer, node)
			}

			// ACCEPT: two command tasks and one with a custom executor,
			// which gets TASK_ERROR while the others launch.
			agentID := offer.GetAgentId()
			task := func(id, cmd string) *mesosv1.TaskInfo {
				return &mesosv1.TaskInfo{Name: proto.String(id), TaskId: &mesosv1.TaskID{Value: proto.String(id)}, AgentId: agentID,
					Resources: []*mesosv1.Resource{scalar("cpus", 0.5), scalar("mem", 64)},
					Command:   &mesosv1.CommandInfo{Value: proto.String(cmd)}}
			}
			t1 := task("Web.Server_1", "echo hi")
			t1.Command.Environment = &mesosv1.Environment{Variables: []*mesosv1.Environment_Variable{{Name: proto.String("GREETING"), Value: proto.String("hi")}}}
			t1.KillPolicy = &mesosv1.KillPolicy{GracePeriod: &mesosv1.DurationInfo{Nanoseconds: proto.Int64(2500 * int64(time.Millisecond))}}
			t1.Data = []byte{0, 1, 2}
			t1.Labels = &mesosv1.Labels{Labels: []*mesosv1.Label{{Key: proto.String("Team Name"), Value: proto.String("web/α")}, {Key: proto.String("canary")}}}
			t2 := task("sleeper", "")
			t2.Command = &mesosv1.CommandInfo{Shell: proto.Bool(false), Value: proto.String("/bin/sleep"), Arguments: []string{"sleep", "1000"}}
			t2.Container = &mesosv1.ContainerInfo{Type: mesosv1.ContainerInfo_DOCKER.Enum(), Docker: &mesosv1.ContainerInfo_DockerInfo{Image: proto.String("alpine:3")}}
			// A custom executor's task becomes a Task with spec.executor;
			// one with both a command and an executor, and one whose
			// executor differs from another of the same ID, get TASK_ERROR.
			custom := task("custom", "")
			custom.Command = nil
			custom.Executor = &mesosv1.ExecutorInfo{ExecutorId: &mesosv1.ExecutorID{Value: proto.String("exec-1")},
				Command: &mesosv1.CommandInfo{Value: proto.String("./executor --verbose")},
				Container: &mesosv1.ContainerInfo{Type: mesosv1.ContainerInfo_MESOS.Enum(), Mesos: &mesosv1.ContainerInfo_MesosInfo{Image: &mesosv1.Image{
					Type: mesosv1.Image_DOCKER.Enum(), Docker: &mesosv1.Image_Docker{Name: proto.String("example/executor:1")}}}},
				Resources: []*mesosv1.Resource{scalar("cpus", 0.1), scalar("mem", 32)}}
			both := task("both", "true")
			both.Executor = proto.Clone(custom.Executor).(*mesosv1.ExecutorInfo)
			clash := task("clash", "")
			clash.Command = nil
			clash.Executor = proto.Clone(custom.Executor).(*mesosv1.ExecutorInfo)
			clash.Executor.Command.Value = proto.String("./executor --quiet")
			send(&schedulerv1.Call{Type: schedulerv1.Call_ACCEPT.Enum(), Accept: &schedulerv1.Call_Accept{
				OfferIds: []*mesosv1.OfferID{offer.GetId()},
				Operations: []*mesosv1.Offer_Operation{{Type: mesosv1.Offer_Operation_LAUNCH.Enum(),
					Launch: &mesosv1.Offer_Operation_Launch{TaskInfos: []*mesosv1.TaskInfo{t1, custom, both, clash, t2}}}},
			}})
			for _, want := range []struct{ id, msg string }{
				{"both", "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"},
				{"clash", "ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID (exec-1)"},
			} {
				st := es.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus()
				if st.GetTaskId().GetValue() != want.id || st.GetState() != mesosv1.TaskState_TASK_ERROR || st.GetSource() != mesosv1.TaskStatus_SOURCE_MASTER ||
					st.GetReason() != mesosv1.TaskStatus_REASON_TASK_INVALID || st.Uuid != nil || st.GetMessage() != want.msg {
					t.Fatalf("update %v: want TASK_ERROR from the master for %s (%q), without a uuid", st, want.id, want.msg)
				}
			}
			var customObj kmv1.Task
			if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: mesoswire.TaskName(fwID.GetValue(), "custom")}, &customObj); err != nil {
				t.Fatal(err)
			}
			wantCmd, _ := mesosapi.WithExecutorToken([]string{"/bin/sh", "-c", "./executor --verbose"}, nil)
			wantExec := &kmv1.ExecutorInfo{ExecutorID: "exec-1", Image: "example/executor:1", Command: wantCmd,
				Resources: b.Resources("cpu", "100m", "memory", "32Mi")}
			if d := cmp.Diff(wantExec, customObj.Spec.Executor); d != "" || customObj.Spec.Command != nil ||
				!cmp.Equal(customObj.Spec.Resources, b.Resources("cpu", "500m", "memory", "64Mi")) {
				t.Fatalf("custom executor's Task: executor (-want +got):\n%s\ncommand %v, resources %v", d, customObj.Spec.Command, customObj.Spec.Resources)
			}
			var t1obj kmv1.Task
			if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: mesoswire.TaskName(fwID.GetValue(), "Web.Server_1")}, &t1obj); err != nil {
				t.Fatal(err)
			}
			wantSpec := kmv1.TaskSpec{Framework: t1obj.Spec.Framework, OfferIDs: []string{offer.GetId().GetValue()}, AgentID: agentID.GetValue(),
				Resources: b.Resources("cpu", "500m", "memory", "64Mi"),
				Command: &kmv1.CommandInfo{Image: mesosapi.DefaultCommandImage, Command: []string{"/bin/sh", "-c", "echo hi"},
					Env: []kmv1.EnvVar{{Name: "GREETING", Value: "hi"}}},
				Data: base64.StdEncoding.EncodeToString([]byte{0, 1, 2}), KillGracePeriodSeconds: ptr.To(int64(3))}
			if d := cmp.Diff(wantSpec, t1obj.Spec); d != "" || t1obj.Annotations[mesoswire.AnnotationTaskID] != "Web.Server_1" ||
				t1obj.Annotations[mesoswire.AnnotationTaskLabels] != `[{"key":"Team Name","value":"web/α"},{"key":"canary"}]` ||
				t1obj.Annotations[kmv1.AnnotationLaunchTasks] != "3" { // the ACCEPT's three valid tasks
				t.Fatalf("Task spec (-want +got):\n%s\nannotations %v", d, t1obj.Annotations)
			}
			var t2obj kmv1.Task
			if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: mesoswire.TaskName(fwID.GetValue(), "sleeper")}, &t2obj); err != nil {
				t.Fatal(err)
			}
			if c := t2obj.Spec.Command; c.Image != "alpine:3" || !cmp.Equal(c.Command, []string{"/bin/sleep"}) || !cmp.Equal(c.Args, []string{"1000"}) {
				t.Errorf("argv task command %+v; want /bin/sleep 1000 in alpine:3", c)
			}

			// The agent's updates reach the framework with a uuid, which
			// it acknowledges; a terminal one's acknowledgement is kept.
			setState := func(tk *kmv1.Task, state kmv1.TaskState) {
				t.Helper()
				eventually(t, "the master to admit "+tk.Name, func() bool {
					return env.Client.Get(ctx, client.ObjectKeyFromObject(tk), tk) == nil && tk.Status.State != ""
				})
				patch := client.MergeFrom(tk.DeepCopy())
				tk.Status.State, tk.Status.Source, tk.Status.AgentID = state, "SOURCE_EXECUTOR", agentID.GetValue()
				tk.Status.ExecutorID, tk.Status.LastUpdateTime = tk.Name, ptr.To(metav1.Now())
				if err := env.Client.Status().Patch(ctx, tk, patch); err != nil {
					t.Fatal(err)
				}
			}
			ack := func(s *mesosv1.TaskStatus) {
				t.Helper()
				send(&schedulerv1.Call{Type: schedulerv1.Call_ACKNOWLEDGE.Enum(), Acknowledge: &schedulerv1.Call_Acknowledge{
					AgentId: s.GetAgentId(), TaskId: s.GetTaskId(), Uuid: s.GetUuid()}})
			}
			for _, state := range []kmv1.TaskState{kmv1.TaskRunning, kmv1.TaskFinished} {
				setState(&t1obj, state)
				st := es.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus()
				if st.GetTaskId().GetValue() != "Web.Server_1" || st.GetState().String() != string(state) || len(st.GetUuid()) != 16 ||
					!proto.Equal(st.GetAgentId(), agentID) || st.GetSource() != mesosv1.TaskStatus_SOURCE_EXECUTOR {
					t.Fatalf("update %v: want %s from the executor with a uuid", st, state)
				}
				if want := mesosapi.UpdateUUID(t1obj.UID, state, t1obj.Status.LastUpdateTime.Time); !cmp.Equal(st.GetUuid(), want) {
					t.Errorf("uuid %x, want %x (from the Task's UID, state and time)", st.GetUuid(), want)
				}
				ack(st)
				if state == kmv1.TaskFinished {
					u, _ := uuid.FromBytes(st.GetUuid())
					eventually(t, "the acknowledgement to be kept", func() bool {
						return env.Client.Get(ctx, client.ObjectKeyFromObject(&t1obj), &t1obj) == nil && t1obj.Annotations[mesosapi.AnnotationAcknowledged] == u.String()
					})
				}
			}

			// DECLINE an offer for an hour: it goes, with no RESCIND, and no
			// offer comes until REVIVE clears the filter.
			next := es.latestOffer()
			send(&schedulerv1.Call{Type: schedulerv1.Call_DECLINE.Enum(), Decline: &schedulerv1.Call_Decline{
				OfferIds: []*mesosv1.OfferID{next.GetId()}, Filters: &mesosv1.Filters{RefuseSeconds: proto.Float64(3600)}}})
			eventually(t, "the declined offer to go", func() bool {
				var o kmv1.Offer
				return client.IgnoreNotFound(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: next.GetId().GetValue()}, &o)) == nil &&
					(o.Name == "" || o.DeletionTimestamp != nil)
			})
			if len(es.offers) != 0 {
				t.Fatalf("offers %v arrived while the agent was filtered", es.offers)
			}
			send(&schedulerv1.Call{Type: schedulerv1.Call_REVIVE.Enum()})
			revived := es.next(schedulerv1.Event_OFFERS).GetOffers().GetOffers()[0]

			// RESCIND: the master withdraws an offer the framework holds.
			if err := env.Client.Delete(ctx, &kmv1.Offer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: revived.GetId().GetValue()}}); err != nil {
				t.Fatal(err)
			}
			if got := es.next(schedulerv1.Event_RESCIND).GetRescind().GetOfferId(); !proto.Equal(got, revived.GetId()) {
				t.Fatalf("RESCIND of %v, want %v", got, revived.GetId())
			}

			// KILL a task, and one that does not exist.
			send(&schedulerv1.Call{Type: schedulerv1.Call_KILL.Enum(), Kill: &schedulerv1.Call_Kill{TaskId: &mesosv1.TaskID{Value: proto.String("sleeper")}}})
			eventually(t, "spec.kill", func() bool {
				return env.Client.Get(ctx, client.ObjectKeyFromObject(&t2obj), &t2obj) == nil && t2obj.Spec.Kill
			})
			send(&schedulerv1.Call{Type: schedulerv1.Call_KILL.Enum(), Kill: &schedulerv1.Call_Kill{TaskId: &mesosv1.TaskID{Value: proto.String("nope")}}})
			if st := es.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus(); st.GetTaskId().GetValue() != "nope" || st.GetState() != mesosv1.TaskState_TASK_LOST ||
				st.GetReason() != mesosv1.TaskStatus_REASON_RECONCILIATION {
				t.Fatalf("kill of an unknown task: %v, want TASK_LOST by reconciliation", st)
			}

			// RECONCILE explicitly: the latest state, without a uuid.
			send(&schedulerv1.Call{Type: schedulerv1.Call_RECONCILE.Enum(), Reconcile: &schedulerv1.Call_Reconcile{
				Tasks: []*schedulerv1.Call_Reconcile_Task{{TaskId: &mesosv1.TaskID{Value: proto.String("Web.Server_1")}}}}})
			if st := es.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus(); st.GetState() != mesosv1.TaskState_TASK_FINISHED ||
				st.GetReason() != mesosv1.TaskStatus_REASON_RECONCILIATION || st.Uuid != nil {
				t.Fatalf("reconciliation %v: want TASK_FINISHED, REASON_RECONCILIATION, no uuid", st)
			}

			// An update not acknowledged is sent again, with its uuid, on a
			// new subscription; the old stream fails over.
			setState(&t2obj, kmv1.TaskRunning)
			first := es.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus()
			if first.GetTaskId().GetValue() != "sleeper" || first.GetState() != mesosv1.TaskState_TASK_RUNNING {
				t.Fatalf("update %v, want the sleeper RUNNING", first)
			}
			info := frameworkInfo("lifecycle")
			info.Id = fwID
			old := es
			es = subscribe(t, url, mt, info)
			es.next(schedulerv1.Event_SUBSCRIBED)
			if again := es.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus(); !proto.Equal(again, first) {
				t.Fatalf("resent update %v, want %v (the acknowledged FINISHED is not resent)", again, first)
			}
			old.next(schedulerv1.Event_ERROR)
			old.ended()

			// SHUTDOWN of the custom executor: its Task asks the agent to
			// shut it down, and a live one is killed.
			send(&schedulerv1.Call{Type: schedulerv1.Call_SHUTDOWN.Enum(), Shutdown: &schedulerv1.Call_Shutdown{
				ExecutorId: &mesosv1.ExecutorID{Value: proto.String("exec-1")}, AgentId: agentID}})
			eventually(t, "the executor's Task to ask for its shutdown", func() bool {
				return env.Client.Get(ctx, client.ObjectKeyFromObject(&customObj), &customObj) == nil &&
					customObj.Annotations[kmv1.AnnotationShutdownExecutor] != "" && customObj.Spec.Kill
			})

			send(&schedulerv1.Call{Type: schedulerv1.Call_TEARDOWN.Enum()})
			es.ended()
			eventually(t, "the framework to end", func() bool {
				var fw kmv1.Framework
				return env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: string(t2obj.Spec.Framework)}, &fw) == nil &&
					(fw.Status.Phase == kmv1.FrameworkCompleted || fw.Status.Phase == kmv1.FrameworkTearingDown)
			})
		})
	}
}
