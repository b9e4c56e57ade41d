package mesosapi

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/uuid"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
	"github.com/kubemesos/kubemesos/internal/scheme"
)

func testStream(caps ...mesosv1.FrameworkInfo_Capability_Type) *stream {
	info := &mesosv1.FrameworkInfo{}
	for _, c := range caps {
		info.Capabilities = append(info.Capabilities, &mesosv1.FrameworkInfo_Capability{Type: c.Enum()})
	}
	return newStream("s", "fw-id", "ns", "fw", info)
}

func launched(state kmv1.TaskState) *kmv1.Task {
	t := b.MakeTask("t-1", "ns").Framework("fw").Obj()
	t.UID = "uid-1"
	t.Annotations = map[string]string{mesoswire.AnnotationTaskID: "t.1"}
	t.Status = kmv1.TaskStatus{State: state, LastUpdateTime: ptr.To(metav1.NewTime(testNow))}
	return t
}

// TestUpdateRules: STAGING is never sent, KILLING only with the
// capability, an update once per uuid, and none that was acknowledged
// for good.
func TestUpdateRules(t *testing.T) {
	s := &Server{clock: clocktesting.NewFakeClock(testNow), log: logr.Discard(), streams: newRegistry()}
	for _, tc := range []struct {
		name  string
		st    *stream
		task  *kmv1.Task
		sends int
	}{
		{"staging", testStream(), launched(kmv1.TaskStaging), 0},
		{"killing without the capability", testStream(), launched(kmv1.TaskKilling), 0},
		{"killing with it", testStream(mesosv1.FrameworkInfo_Capability_TASK_KILLING_STATE), launched(kmv1.TaskKilling), 1},
		{"running", testStream(), launched(kmv1.TaskRunning), 1},
		{"not a Mesos API task", testStream(), func() *kmv1.Task { t := launched(kmv1.TaskRunning); t.Annotations = nil; return t }(), 0},
		{"acknowledged for good", testStream(), func() *kmv1.Task {
			t := launched(kmv1.TaskFinished)
			u, _ := uuid.FromBytes(UpdateUUID(t.UID, kmv1.TaskFinished, testNow))
			t.Annotations[AnnotationAcknowledged] = u.String()
			return t
		}(), 0},
	} {
		s.sendUpdate(tc.st, tc.task)
		s.sendUpdate(tc.st, tc.task) // the same update again: not resent at once
		if got := len(tc.st.events); got != tc.sends {
			t.Errorf("%s: %d events sent, want %d", tc.name, got, tc.sends)
		}
	}
	// A lost task: TASK_LOST, and TASK_GONE to a partition-aware framework.
	// A dropped task: TASK_DROPPED to a partition-aware framework, and
	// TASK_LOST to the others, which know no TASK_DROPPED.
	aware := mesosv1.FrameworkInfo_Capability_PARTITION_AWARE
	for _, tc := range []struct {
		st    *stream
		state kmv1.TaskState
		want  mesosv1.TaskState
	}{
		{testStream(), kmv1.TaskLost, mesosv1.TaskState_TASK_LOST},
		{testStream(aware), kmv1.TaskLost, mesosv1.TaskState_TASK_GONE},
		{testStream(), kmv1.TaskDropped, mesosv1.TaskState_TASK_LOST},
		{testStream(aware), kmv1.TaskDropped, mesosv1.TaskState_TASK_DROPPED},
	} {
		s.sendUpdate(tc.st, launched(tc.state))
		if len(tc.st.events) != 1 {
			t.Fatalf("a task %s: %d events, want one", tc.state, len(tc.st.events))
		}
		if got := (<-tc.st.events).GetUpdate().GetStatus().GetState(); got != tc.want {
			t.Errorf("a task %s, to a framework with capabilities %v: %s, want %s", tc.state, tc.st.frameworkInfo().GetCapabilities(), got, tc.want)
		}
	}
}

// TestEndAcknowledged: a Task's ID is free for a new launch only once the
// Task has ended and the uuid of that end's update is acknowledged.
func TestEndAcknowledged(t *testing.T) {
	acked := func(tk *kmv1.Task, state kmv1.TaskState) *kmv1.Task {
		u, _ := uuid.FromBytes(UpdateUUID(tk.UID, state, testNow))
		tk.Annotations[AnnotationAcknowledged] = u.String()
		return tk
	}
	for _, tc := range []struct {
		name string
		task *kmv1.Task
		want bool
	}{
		{"running", launched(kmv1.TaskRunning), false},
		{"finished, not acknowledged", launched(kmv1.TaskFinished), false},
		{"finished and acknowledged", acked(launched(kmv1.TaskFinished), kmv1.TaskFinished), true},
		{"dropped and acknowledged", acked(launched(kmv1.TaskDropped), kmv1.TaskDropped), true},
		{"an earlier update acknowledged", acked(launched(kmv1.TaskFailed), kmv1.TaskRunning), false},
	} {
		if got := endAcknowledged(tc.task); got != tc.want {
			t.Errorf("%s: endAcknowledged = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestResendBackoff: an unacknowledged update is due after 10 s, then
// after twice as long each time, up to 10 minutes; an acknowledged one
// never again.
func TestResendBackoff(t *testing.T) {
	clk := clocktesting.NewFakeClock(testNow)
	s := &Server{clock: clk, log: logr.Discard(), streams: newRegistry()}
	st := testStream()
	s.sendUpdate(st, launched(kmv1.TaskRunning))
	<-st.events
	var gaps []time.Duration
	last := clk.Now()
	for len(gaps) < 8 {
		clk.Step(time.Second)
		_ = s.resendDue(st, queued(st))
		select {
		case e := <-st.events:
			gaps = append(gaps, clk.Now().Sub(last))
			last = clk.Now()
			if len(gaps) == 1 {
				st.takePending(string(e.GetUpdate().GetStatus().GetUuid()))
				// Acknowledged: nothing more, however long we wait.
				clk.Step(time.Hour)
				_ = s.resendDue(st, queued(st))
				if len(st.events) != 0 {
					t.Fatal("an acknowledged update was sent again")
				}
				s.sendUpdate(st, launched(kmv1.TaskFailed))
				<-st.events
				last = clk.Now()
			}
		default:
		}
	}
	want := []time.Duration{10 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 320 * time.Second, 600 * time.Second}
	for i := range want {
		if gaps[i] != want[i] {
			t.Fatalf("resend gaps %v, want %v", gaps, want)
		}
	}
}

// queued writes an event into the stream's queue, for tests that read it
// there.
func queued(st *stream) func(*schedulerv1.Event) error {
	return func(e *schedulerv1.Event) error {
		st.send(e)
		return nil
	}
}

// TestManyUpdatesWhenAStreamOpens: a framework with more unacknowledged
// updates than a stream's queue holds gets them all when it subscribes,
// written by the stream itself, and the stream stays open (queued, they
// closed it as fallen behind, and the framework could never stay
// subscribed).
func TestManyUpdatesWhenAStreamOpens(t *testing.T) {
	n := streamQueue + 500
	objs := make([]client.Object, 0, n)
	for i := range n {
		tk := launched(kmv1.TaskRunning)
		tk.Name, tk.UID = fmt.Sprintf("t-%d", i), types.UID(fmt.Sprintf("uid-%d", i))
		tk.Labels = map[string]string{kmv1.LabelFramework: "fw"}
		tk.Annotations = map[string]string{mesoswire.AnnotationTaskID: fmt.Sprintf("t.%d", i)}
		objs = append(objs, tk)
	}
	s := &Server{clock: clocktesting.NewFakeClock(testNow), log: logr.Discard(), streams: newRegistry(),
		reader: fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(objs...).Build()}
	st := testStream()
	written := 0
	if err := s.writeTaskUpdates(context.Background(), st, func(*schedulerv1.Event) error { written++; return nil }); err != nil {
		t.Fatal(err)
	}
	if written != n {
		t.Errorf("%d updates written, want %d", written, n)
	}
	select {
	case <-st.done:
		t.Errorf("the stream closed: %v", st.last)
	default:
	}
	// And when they all come due again, the stream writes them too.
	s.clock.(*clocktesting.FakeClock).Step(resendInitial)
	written = 0
	if err := s.resendDue(st, func(*schedulerv1.Event) error { written++; return nil }); err != nil || written != n {
		t.Errorf("resent %d of %d (%v)", written, n, err)
	}
}

// TestAcknowledgementKeptUntilRecorded: the acknowledgement of a terminal
// update whose record on the Task fails is kept, so that the framework's
// retry of the call records it.
func TestAcknowledgementKeptUntilRecorded(t *testing.T) {
	task := launched(kmv1.TaskFinished)
	failing := true
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(task).WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if failing {
				return apierrors.NewServiceUnavailable("the API server is restarting")
			}
			return c.Patch(ctx, obj, patch, opts...)
		},
	}).Build()
	s := &Server{clock: clocktesting.NewFakeClock(testNow), log: logr.Discard(), streams: newRegistry(), schedulerClient: c}
	st := testStream()
	s.sendUpdate(st, task)
	e := <-st.events
	ack := &schedulerv1.Call_Acknowledge{Uuid: e.GetUpdate().GetStatus().GetUuid()}
	if err := s.acknowledge(context.Background(), st, ack); err == nil {
		t.Fatal("an acknowledgement that was not recorded reported no error")
	}
	failing = false
	if err := s.acknowledge(context.Background(), st, ack); err != nil {
		t.Fatal(err)
	}
	var got kmv1.Task
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(task), &got); err != nil {
		t.Fatal(err)
	}
	if got.Annotations[AnnotationAcknowledged] != uuid.UUID(ack.GetUuid()).String() {
		t.Errorf("annotations %v: the retried acknowledgement was not recorded", got.Annotations)
	}
}

// TestAcknowledgedUpdateIsNotSentAgain: a Task that changes in another way
// after its update was acknowledged (its cache not yet showing the
// acknowledgement, a finalizer removed) is not sent again, running or
// ended; its next status is; and once the Task carries the acknowledgement
// of its terminal update, the stream forgets the task.
func TestAcknowledgedUpdateIsNotSentAgain(t *testing.T) {
	running := launched(kmv1.TaskRunning)
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(running.DeepCopy()).Build()
	s := &Server{clock: clocktesting.NewFakeClock(testNow), log: logr.Discard(), streams: newRegistry(), schedulerClient: c}
	st := testStream()
	ackAndTouch := func(task *kmv1.Task) {
		t.Helper()
		s.sendUpdate(st, task)
		if len(st.events) != 1 {
			t.Fatalf("%s: %d events, want one", task.Status.State, len(st.events))
		}
		e := <-st.events
		if err := s.acknowledge(context.Background(), st, &schedulerv1.Call_Acknowledge{Uuid: e.GetUpdate().GetStatus().GetUuid()}); err != nil {
			t.Fatal(err)
		}
		touched := task.DeepCopy()
		touched.Labels = map[string]string{"touched": "yes"}
		s.sendUpdate(st, touched)
		if len(st.events) != 0 {
			t.Fatalf("the acknowledged %s update was sent again: %v", task.Status.State, <-st.events)
		}
	}
	ackAndTouch(running)
	finished := launched(kmv1.TaskFinished)
	finished.Status.LastUpdateTime = ptr.To(metav1.NewTime(testNow.Add(time.Second)))
	ackAndTouch(finished)

	var got kmv1.Task
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(finished), &got); err != nil {
		t.Fatal(err)
	}
	finished.Annotations = got.Annotations
	s.sendUpdate(st, finished)
	if len(st.events) != 0 || len(st.lastUpdate) != 0 {
		t.Errorf("after the acknowledgement is on the Task: %d events, %d tasks remembered; want none", len(st.events), len(st.lastUpdate))
	}

	// A Task deleted before its terminal update was acknowledged for good
	// is forgotten too.
	s.sendUpdate(st, launched(kmv1.TaskRunning))
	<-st.events
	if err := c.Delete(context.Background(), finished); err != nil {
		t.Fatal(err)
	}
	s.reader = c
	s.taskQueue = workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[taskKey]())
	defer s.taskQueue.ShutDown()
	s.streams.replace(st)
	s.sendTaskUpdate(context.Background(), taskKey{key: client.ObjectKeyFromObject(finished), framework: "fw"})
	if len(st.lastUpdate) != 0 {
		t.Errorf("a deleted Task is still remembered: %v", st.lastUpdate)
	}
}

// TestAnUpdateSupersededIsNotSentAgain: a task's update that the framework
// has not acknowledged is sent again when due, unless a later update of the
// task was sent since: sending TASK_RUNNING again after TASK_FINISHED would
// take the task back in the scheduler's eyes.
func TestAnUpdateSupersededIsNotSentAgain(t *testing.T) {
	clock := clocktesting.NewFakeClock(testNow)
	s := &Server{clock: clock, log: logr.Discard(), streams: newRegistry()}
	st := testStream()
	s.sendUpdate(st, launched(kmv1.TaskRunning))
	clock.Step(2 * time.Second)
	finished := launched(kmv1.TaskFinished)
	finished.Status.LastUpdateTime = ptr.To(metav1.NewTime(clock.Now()))
	s.sendUpdate(st, finished)
	for range 2 {
		<-st.events
	}
	var resent []mesosv1.TaskState
	for range 3 {
		clock.Step(resendMax)
		if err := s.resendDue(st, func(e *schedulerv1.Event) error {
			resent = append(resent, e.GetUpdate().GetStatus().GetState())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(resent) != 3 {
		t.Fatalf("sent again: %v, want TASK_FINISHED at each due time", resent)
	}
	for _, state := range resent {
		if state != mesosv1.TaskState_TASK_FINISHED {
			t.Errorf("sent again: %v, want TASK_FINISHED only", resent)
			break
		}
	}
}
