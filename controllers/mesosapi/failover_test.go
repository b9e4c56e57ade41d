package mesosapi_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"google.golang.org/protobuf/proto"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/mesosapi"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// TestMasterFailover: a framework's leading master crashes in the middle of
// a run, with an update the framework has not acknowledged. The framework
// subscribes again, with its framework ID, to the master that took over:
// it is the same framework, the update comes again with the same uuid until
// it is acknowledged, and no task is launched twice.
func TestMasterFailover(t *testing.T) {
	ctx := context.Background()
	lease := types.NamespacedName{Namespace: inprocess.SystemNamespace, Name: kmv1.MasterLeaseName}
	dropLease := func() {
		_ = env.Client.Delete(context.Background(), &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: lease.Namespace, Name: lease.Name}})
	}
	dropLease()
	t.Cleanup(dropLease)

	ns := newNamespace(t)
	addAgent(t, "failover-node", "127.0.0.1:5051", "cpu", "4", "memory", "8Gi")
	masters := map[string]*inprocess.Master{}
	urls := map[string]string{}
	for _, id := range []string{"m1", "m2"} {
		o := apiOptions(t, ns)
		// A 6 s Lease: with the tests' 3 s a busy machine may move the
		// leadership in the middle of the run, ending the stream early.
		masters[o.AdvertiseAddress] = inprocess.LaunchMaster(t, env.Config, inprocess.MasterConfig{
			Options: inprocess.MasterOptions(), ID: id, LeaderElect: true, LeaseDuration: 6 * time.Second, MesosAPI: &o})
		urls[o.AdvertiseAddress] = "http://" + o.AdvertiseAddress + mesosapi.Path
	}
	// The leader, by the address its Lease identity advertises.
	leading := func(not string) string {
		var addr string
		testenv.Eventually(t, "a master to lead", 30*time.Second, func() bool {
			var l coordinationv1.Lease
			if env.Client.Get(ctx, lease, &l) != nil || l.Spec.HolderIdentity == nil {
				return false
			}
			a, ok := mesosapi.AdvertisedAddress(*l.Spec.HolderIdentity)
			if !ok || a == not || urls[a] == "" {
				return false
			}
			// Leading once it answers more than a redirect.
			c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := c.Get(urls[a])
			if err != nil {
				return false // not listening yet
			}
			_ = resp.Body.Close()
			addr = a
			return resp.StatusCode != http.StatusTemporaryRedirect && resp.StatusCode != http.StatusServiceUnavailable
		})
		return addr
	}

	mt := mesoswire.MediaProtobuf
	info := frameworkInfo("failover")
	info.FailoverTimeout = proto.Float64(120)
	es := subscribe(t, urls[leading("")], mt, info)
	subscribed := es.next(schedulerv1.Event_SUBSCRIBED).GetSubscribed()
	fwID := subscribed.GetFrameworkId()
	// The master the stream is on, as a Mesos framework knows it: the
	// leader may have changed since it was looked up (a Lease renewal that
	// a busy machine delays), and the subscription followed the redirect.
	mi := subscribed.GetMasterInfo()
	first := net.JoinHostPort(mi.GetHostname(), strconv.Itoa(int(mi.GetPort())))
	if masters[first] == nil {
		t.Fatalf("SUBSCRIBED names master %s, not one of this test's", first)
	}
	offer := es.next(schedulerv1.Event_OFFERS).GetOffers().GetOffers()[0]
	launch := &schedulerv1.Call{FrameworkId: fwID, Type: schedulerv1.Call_ACCEPT.Enum(), Accept: &schedulerv1.Call_Accept{
		OfferIds: []*mesosv1.OfferID{offer.GetId()},
		Operations: []*mesosv1.Offer_Operation{{Type: mesosv1.Offer_Operation_LAUNCH.Enum(), Launch: &mesosv1.Offer_Operation_Launch{
			TaskInfos: []*mesosv1.TaskInfo{{Name: proto.String("job"), TaskId: &mesosv1.TaskID{Value: proto.String("job-1")}, AgentId: offer.GetAgentId(),
				Resources: []*mesosv1.Resource{scalar("cpus", 1)}, Command: &mesosv1.CommandInfo{Value: proto.String("sleep 100")}}},
		}}},
	}}
	if code, body := call(t, urls[first], mt, es.id, launch); code != http.StatusAccepted {
		t.Fatalf("ACCEPT: %d %q", code, body)
	}
	var task kmv1.Task
	key := types.NamespacedName{Namespace: ns, Name: mesoswire.TaskName(fwID.GetValue(), "job-1")}
	eventually(t, "the master to admit the task", func() bool {
		return env.Client.Get(ctx, key, &task) == nil && task.Status.State != ""
	})
	// The agent reports it running; the framework does not acknowledge.
	patch := client.MergeFrom(task.DeepCopy())
	task.Status.State, task.Status.Source, task.Status.AgentID = kmv1.TaskRunning, kmv1.SourceExecutor, offer.GetAgentId().GetValue()
	task.Status.LastUpdateTime = ptr.To(metav1.Now())
	if err := env.Client.Status().Patch(ctx, &task, patch); err != nil {
		t.Fatal(err)
	}
	running := es.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus()
	if running.GetState() != mesosv1.TaskState_TASK_RUNNING || len(running.GetUuid()) != 16 {
		t.Fatalf("update %v, want TASK_RUNNING with a uuid", running)
	}

	// The leader crashes; its stream ends.
	masters[first].Stop()
	for ended := time.After(30 * time.Second); ; {
		select {
		case _, open := <-es.events:
			if open {
				continue // offers and heartbeats sent before the end
			}
		case <-ended:
			t.Fatal("the crashed leader's stream did not end")
		}
		break
	}
	second := leading(first)

	// The framework subscribes again to the new leader as the same
	// framework, and gets its unacknowledged update again.
	info.Id = fwID
	es2 := subscribe(t, urls[second], mt, info)
	if got := es2.next(schedulerv1.Event_SUBSCRIBED).GetSubscribed().GetFrameworkId(); !proto.Equal(got, fwID) {
		t.Fatalf("subscribed again as %v, want %v", got, fwID)
	}
	again := es2.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus()
	if again.GetTaskId().GetValue() != "job-1" || again.GetState() != mesosv1.TaskState_TASK_RUNNING || !bytes.Equal(again.GetUuid(), running.GetUuid()) {
		t.Fatalf("after failover: %v, want TASK_RUNNING of job-1 again with uuid %x", again, running.GetUuid())
	}
	if code, body := call(t, urls[second], mt, es2.id, &schedulerv1.Call{FrameworkId: fwID, Type: schedulerv1.Call_ACKNOWLEDGE.Enum(),
		Acknowledge: &schedulerv1.Call_Acknowledge{AgentId: again.GetAgentId(), TaskId: again.GetTaskId(), Uuid: again.GetUuid()}}); code != http.StatusAccepted {
		t.Fatalf("ACKNOWLEDGE: %d %q", code, body)
	}

	// A framework that launches its task again, not knowing whether the
	// first launch took, gets TASK_ERROR for the duplicate ID.
	var offer2 *mesosv1.Offer
	if len(es2.offers) > 0 {
		offer2 = es2.offers[0]
	} else {
		offer2 = es2.next(schedulerv1.Event_OFFERS).GetOffers().GetOffers()[0]
	}
	launch.Accept.OfferIds = []*mesosv1.OfferID{offer2.GetId()}
	launch.Accept.Operations[0].Launch.TaskInfos[0].AgentId = offer2.GetAgentId()
	if code, body := call(t, urls[second], mt, es2.id, launch); code != http.StatusAccepted {
		t.Fatalf("ACCEPT again: %d %q", code, body)
	}
	if st := es2.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus(); st.GetTaskId().GetValue() != "job-1" || st.GetState() != mesosv1.TaskState_TASK_ERROR ||
		!strings.Contains(st.GetMessage(), "duplicate ID") {
		t.Fatalf("launching job-1 again: %v, want TASK_ERROR for its duplicate ID", st)
	}

	// One Framework, one Task: nothing was launched twice.
	var fws kmv1.FrameworkList
	var tasks kmv1.TaskList
	if err := env.Client.List(ctx, &fws, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.List(ctx, &tasks, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(fws.Items) != 1 || string(fws.Items[0].UID) != fwID.GetValue() || len(tasks.Items) != 1 {
		t.Fatalf("%d Frameworks and %d Tasks after failover, want the one framework %s and its one task", len(fws.Items), len(tasks.Items), fwID.GetValue())
	}
}
