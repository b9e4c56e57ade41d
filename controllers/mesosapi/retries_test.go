package mesosapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"google.golang.org/protobuf/proto"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// ACCEPTs sent again, and ACCEPTs that the Task objects cannot hold: what
// a scheduler that retries a call whose answer it did not get, or that
// sends what Mesos would take and a Task cannot, is told.

// acceptCall launches tasks on offers, with filters.
func acceptCall(fwID *mesosv1.FrameworkID, offers []*mesosv1.OfferID, tasks ...*mesosv1.TaskInfo) *schedulerv1.Call {
	return &schedulerv1.Call{FrameworkId: fwID, Type: schedulerv1.Call_ACCEPT.Enum(), Accept: &schedulerv1.Call_Accept{
		OfferIds: offers,
		Operations: []*mesosv1.Offer_Operation{{Type: mesosv1.Offer_Operation_LAUNCH.Enum(), Launch: &mesosv1.Offer_Operation_Launch{
			TaskInfos: tasks}}},
		Filters: &mesosv1.Filters{RefuseSeconds: proto.Float64(0)},
	}}
}

// commandTask is a command task of id on agent, taking cpus.
func commandTask(id string, agent *mesosv1.AgentID, cpus float64) *mesosv1.TaskInfo {
	return &mesosv1.TaskInfo{Name: proto.String(id), TaskId: &mesosv1.TaskID{Value: proto.String(id)}, AgentId: agent,
		Resources: []*mesosv1.Resource{scalar("cpus", cpus)}, Command: &mesosv1.CommandInfo{Value: proto.String("true")}}
}

// subscribed is a Mesos scheduler subscribed (protobuf) to a master in a
// namespace of its own, with an agent of res when res is given.
type subscribed struct {
	ns, url, mt string
	es          *eventStream
	fwID        *mesosv1.FrameworkID
}

func subscribeWith(t *testing.T, name string, res ...string) *subscribed {
	t.Helper()
	s := &subscribed{ns: newNamespace(t), mt: mesoswire.MediaProtobuf}
	if len(res) > 0 {
		addAgent(t, name, "127.0.0.1:5051", res...)
	}
	s.url = startAPI(t, apiOptions(t, s.ns), false)
	s.es = subscribe(t, s.url, s.mt, frameworkInfo(name))
	s.fwID = s.es.next(schedulerv1.Event_SUBSCRIBED).GetSubscribed().GetFrameworkId()
	return s
}

// TestAnAcceptSentAgainIsTheSameLaunch: a scheduler that sends an ACCEPT
// again (its answer was lost) is not told that the task it launched is a
// duplicate or was lost, whether its offer is still there or the master
// has used it up since: the task goes on, and its own updates follow.
func TestAnAcceptSentAgainIsTheSameLaunch(t *testing.T) {
	ctx := context.Background()
	sub := subscribeWith(t, "again", "cpu", "4", "memory", "8Gi")
	ns, url, mt, es, fwID := sub.ns, sub.url, sub.mt, sub.es, sub.fwID
	offer := es.latestOffer()
	accept := acceptCall(fwID, []*mesosv1.OfferID{offer.GetId()}, commandTask("job-1", offer.GetAgentId(), 1))
	for range 2 {
		if code, body := call(t, url, mt, es.id, accept); code != http.StatusAccepted {
			t.Fatalf("ACCEPT: %d %q", code, body)
		}
	}
	key := types.NamespacedName{Namespace: ns, Name: mesoswire.TaskName(fwID.GetValue(), "job-1")}
	var task kmv1.Task
	eventually(t, "job-1 admitted", func() bool { return env.Client.Get(ctx, key, &task) == nil && task.Status.State != "" })
	// Its offer is used up now: the same ACCEPT once more.
	if code, body := call(t, url, mt, es.id, accept); code != http.StatusAccepted {
		t.Fatalf("ACCEPT: %d %q", code, body)
	}
	patch := client.MergeFrom(task.DeepCopy())
	task.Status.State, task.Status.Source, task.Status.LastUpdateTime = kmv1.TaskFinished, kmv1.SourceExecutor, ptr.To(metav1.Now())
	if err := env.Client.Status().Patch(ctx, &task, patch); err != nil {
		t.Fatal(err)
	}
	for {
		st := es.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus()
		if st.GetTaskId().GetValue() != "job-1" {
			continue
		}
		if st.GetState() != mesosv1.TaskState_TASK_FINISHED {
			t.Fatalf("job-1, launched once and its ACCEPT sent again: %s %q", st.GetState(), st.GetMessage())
		}
		break
	}
	var tasks kmv1.TaskList
	if err := env.Client.List(ctx, &tasks, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(tasks.Items) != 1 {
		t.Errorf("%d Tasks, want job-1's alone", len(tasks.Items))
	}
}

// TestAnAcceptATaskCannotHold: a TaskInfo that Mesos would take and a Task
// cannot hold (a kill grace period over the hour that spec.killGracePeriodSeconds
// allows) gets TASK_ERROR with the API server's reason, and the call's
// other tasks are launched; an ACCEPT that names one offer twice launches
// nothing and says why.
func TestAnAcceptATaskCannotHold(t *testing.T) {
	ctx := context.Background()
	sub := subscribeWith(t, "unheld", "cpu", "4", "memory", "8Gi")
	ns, url, mt, es, fwID := sub.ns, sub.url, sub.mt, sub.es, sub.fwID
	offer := es.latestOffer()
	long := commandTask("long-grace", offer.GetAgentId(), 1)
	long.KillPolicy = &mesosv1.KillPolicy{GracePeriod: &mesosv1.DurationInfo{Nanoseconds: proto.Int64(7200e9)}}
	c := acceptCall(fwID, []*mesosv1.OfferID{offer.GetId()}, commandTask("fine", offer.GetAgentId(), 1), long)
	if code, body := call(t, url, mt, es.id, c); code != http.StatusAccepted {
		t.Fatalf("ACCEPT with a task a Task cannot hold: %d %q, want 202", code, body)
	}
	st := es.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus()
	if st.GetTaskId().GetValue() != "long-grace" || st.GetState() != mesosv1.TaskState_TASK_ERROR || st.GetReason() != mesosv1.TaskStatus_REASON_TASK_INVALID ||
		!strings.Contains(st.GetMessage(), "killGracePeriodSeconds") {
		t.Errorf("the task with a two-hour grace period: %v, want TASK_ERROR (REASON_TASK_INVALID) naming the field", st)
	}
	var fine kmv1.Task
	eventually(t, "the call's other task admitted", func() bool {
		err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: mesoswire.TaskName(fwID.GetValue(), "fine")}, &fine)
		return err == nil && fine.Status.State == kmv1.TaskStaging
	})

	twice := es.latestOffer()
	c = acceptCall(fwID, []*mesosv1.OfferID{twice.GetId(), twice.GetId()}, commandTask("twice", twice.GetAgentId(), 1))
	if code, body := call(t, url, mt, es.id, c); code != http.StatusAccepted {
		t.Fatalf("ACCEPT naming an offer twice: %d %q", code, body)
	}
	st = es.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus()
	if st.GetTaskId().GetValue() != "twice" || st.GetState() != mesosv1.TaskState_TASK_LOST || st.GetReason() != mesosv1.TaskStatus_REASON_INVALID_OFFERS ||
		!strings.Contains(st.GetMessage(), "Duplicate offer") {
		t.Errorf("a task on an offer named twice: %v, want TASK_LOST (REASON_INVALID_OFFERS) for the duplicate offer", st)
	}
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: mesoswire.TaskName(fwID.GetValue(), "twice")}, &kmv1.Task{}); err == nil {
		t.Error("a Task was created for a launch on an offer named twice")
	}
}

// TestReconcileRightAfterAccept: RECONCILE right after an ACCEPT answers
// the tasks that the master has not admitted yet TASK_STAGING, as Mesos
// answers a pending task, never unknown (TASK_LOST to a framework that is
// not partition-aware, which would launch them again).
func TestReconcileRightAfterAccept(t *testing.T) {
	sub := subscribeWith(t, "pending", "cpu", "64", "memory", "64Gi")
	url, mt, es, fwID := sub.url, sub.mt, sub.es, sub.fwID
	offer := es.latestOffer()
	const n = 40
	var tasks []*mesosv1.TaskInfo
	var reconcile []*schedulerv1.Call_Reconcile_Task
	for i := range n {
		ti := commandTask(fmt.Sprintf("p-%d", i), offer.GetAgentId(), 1)
		tasks = append(tasks, ti)
		reconcile = append(reconcile, &schedulerv1.Call_Reconcile_Task{TaskId: ti.GetTaskId()})
	}
	if code, body := call(t, url, mt, es.id, acceptCall(fwID, []*mesosv1.OfferID{offer.GetId()}, tasks...)); code != http.StatusAccepted {
		t.Fatalf("ACCEPT: %d %q", code, body)
	}
	if code, body := call(t, url, mt, es.id, &schedulerv1.Call{FrameworkId: fwID, Type: schedulerv1.Call_RECONCILE.Enum(),
		Reconcile: &schedulerv1.Call_Reconcile{Tasks: reconcile}}); code != http.StatusAccepted {
		t.Fatalf("RECONCILE: %d %q", code, body)
	}
	answered := 0
	for answered < n {
		st := es.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus()
		if st.GetReason() != mesosv1.TaskStatus_REASON_RECONCILIATION {
			continue // the admissions' own updates
		}
		answered++
		if st.GetState() != mesosv1.TaskState_TASK_STAGING {
			t.Errorf("task %s reconciled right after its ACCEPT: %s %q, want TASK_STAGING", st.GetTaskId().GetValue(), st.GetState(), st.GetMessage())
		}
	}
}

// TestALargeAcceptKeepsItsStream: an ACCEPT whose tasks all get an answer
// from the master at once (their offer is gone), more than a stream's
// queue holds, waits for its subscriber to read them rather than closing
// the stream and losing them.
func TestALargeAcceptKeepsItsStream(t *testing.T) {
	sub := subscribeWith(t, "large", "cpu", "4", "memory", "8Gi")
	url, mt, es, fwID := sub.url, sub.mt, sub.es, sub.fwID
	agent := es.latestOffer().GetAgentId()
	const n = 1500
	tasks := make([]*mesosv1.TaskInfo, n)
	for i := range tasks {
		tasks[i] = &mesosv1.TaskInfo{Name: proto.String("t"), TaskId: &mesosv1.TaskID{Value: proto.String(fmt.Sprint("t", i))}, AgentId: agent}
	}
	c := acceptCall(fwID, []*mesosv1.OfferID{{Value: proto.String("gone")}}, tasks...)
	answers := make(chan string, 1)
	go func() {
		resp := request{contentType: mt, streamID: es.id, body: encode(t, mt, c)}.do(t, url)
		code, body := answer(t, resp)
		answers <- fmt.Sprint(code, " ", body)
	}()
	for i := range n {
		st := es.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus()
		if st.GetState() != mesosv1.TaskState_TASK_LOST {
			t.Fatalf("update %d: %v, want TASK_LOST", i, st)
		}
	}
	if got := <-answers; !strings.HasPrefix(got, "202") {
		t.Errorf("the ACCEPT answered %s, want 202", got)
	}
}

// TestTheStreamOfADeletedFramework: deleting a framework's Framework while
// its scheduler is subscribed ends the stream with Mesos's "Framework has
// been removed", and the master stops renewing (or creating again) the
// scheduler Lease it held for the stream, which the Framework owns.
func TestTheStreamOfADeletedFramework(t *testing.T) {
	ctx := context.Background()
	sub := subscribeWith(t, "deleted")
	ns, es, fwID := sub.ns, sub.es, sub.fwID.GetValue()
	var l kmv1.FrameworkList
	if err := env.Client.List(ctx, &l, client.InNamespace(ns)); err != nil || len(l.Items) != 1 {
		t.Fatalf("frameworks %v, %v; want one", l.Items, err)
	}
	fw := l.Items[0]
	leaseKey := types.NamespacedName{Namespace: ns, Name: kmv1.SchedulerLeaseName(fw.Name)}
	var lease coordinationv1.Lease
	eventually(t, "the scheduler Lease", func() bool { return env.Client.Get(ctx, leaseKey, &lease) == nil })
	if len(lease.OwnerReferences) != 1 || string(lease.OwnerReferences[0].UID) != fwID {
		t.Errorf("the scheduler Lease's owners %v, want the Framework %s", lease.OwnerReferences, fwID)
	}
	if err := env.Client.Delete(ctx, &fw); err != nil {
		t.Fatal(err)
	}
	e := es.next(schedulerv1.Event_ERROR)
	if !strings.Contains(e.GetError().GetMessage(), "removed") {
		t.Errorf("the stream of a deleted framework ended with %v, want \"Framework has been removed\"", e)
	}
	es.ended()
	// No envtest garbage collector: the Lease is deleted by hand, and
	// nothing takes it again.
	if err := env.Client.Delete(ctx, &lease); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // three of the stream's renewal periods
	if err := env.Client.Get(ctx, leaseKey, &lease); !apierrors.IsNotFound(err) {
		t.Errorf("the scheduler Lease of a deleted framework was taken again: %v %+v", err, lease.Spec)
	}
}

// TestASubscriptionSetsTheSuppression: as in Mesos 1.9 and later, a
// SUBSCRIBE says which of the framework's roles are suppressed, whatever
// an earlier stream set: a scheduler that suppressed offers and subscribes
// again without suppressed roles gets offers again; one that names its
// role stays suppressed; a role that is not the framework's is refused.
func TestASubscriptionSetsTheSuppression(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	url := startAPI(t, apiOptions(t, ns), false)
	mt := mesoswire.MediaProtobuf
	info := frameworkInfo("suppressed")
	es := subscribe(t, url, mt, info)
	fwID := es.next(schedulerv1.Event_SUBSCRIBED).GetSubscribed().GetFrameworkId()
	if code, body := call(t, url, mt, es.id, &schedulerv1.Call{FrameworkId: fwID, Type: schedulerv1.Call_SUPPRESS.Enum()}); code != http.StatusAccepted {
		t.Fatalf("SUPPRESS: %d %q", code, body)
	}
	var l kmv1.FrameworkList
	if err := env.Client.List(ctx, &l, client.InNamespace(ns)); err != nil || len(l.Items) != 1 {
		t.Fatalf("frameworks %v, %v; want one", l.Items, err)
	}
	key := types.NamespacedName{Namespace: ns, Name: l.Items[0].Name}
	suppressed := func() bool {
		var fw kmv1.Framework
		if err := env.Client.Get(ctx, key, &fw); err != nil {
			t.Fatal(err)
		}
		return fw.Spec.SuppressOffers
	}
	if !suppressed() {
		t.Fatal("SUPPRESS did not suppress the framework")
	}
	info.Id = fwID
	again := func(roles ...string) (int, string) {
		c := subscribeCall(info)
		c.Subscribe.SuppressedRoles = roles
		resp := request{contentType: mt, accept: mt, body: encode(t, mt, c)}.do(t, url)
		if resp.StatusCode != http.StatusOK {
			return answer(t, resp)
		}
		es = newEventStream(t, resp, mt)
		es.next(schedulerv1.Event_SUBSCRIBED)
		return resp.StatusCode, ""
	}
	if code, body := again(); code != http.StatusOK {
		t.Fatalf("SUBSCRIBE again: %d %q", code, body)
	}
	if suppressed() {
		t.Error("a SUBSCRIBE without suppressed roles left the framework suppressed")
	}
	if code, body := again("*"); code != http.StatusOK {
		t.Fatalf("SUBSCRIBE again, its role suppressed: %d %q", code, body)
	}
	if !suppressed() {
		t.Error("a SUBSCRIBE that suppresses the framework's role left it unsuppressed")
	}
	if code, body := again("other"); code != http.StatusBadRequest || !strings.Contains(body, "other") {
		t.Errorf("a SUBSCRIBE suppressing a role the framework has not: %d %q, want 400 naming it", code, body)
	}
}
