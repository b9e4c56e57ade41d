package mesosapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
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
	"github.com/kubemesos/kubemesos/internal/messages"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// TestTheAPIServersVerdictsReachTheScheduler: when the API server refuses
// a write the master makes for a scheduler (a policy of the cluster's, a
// quota, RBAC), the scheduler hears why, as Mesos would tell it, instead
// of a 500 it would retry in vain: a launch it may not make is a
// TASK_ERROR (REASON_TASK_UNAUTHORIZED) with the API server's message, and
// the call's other tasks go on; an UPDATE_FRAMEWORK the Framework cannot
// take is a 400 with the message.
func TestTheAPIServersVerdictsReachTheScheduler(t *testing.T) {
	ctx := context.Background()
	sub := subscribeWith(t, "verdicts", "cpu", "4", "memory", "8Gi")
	ns, url, mt, es, fwID := sub.ns, sub.url, sub.mt, sub.es, sub.fwID
	offer := es.latestOffer()
	if code, body := call(t, url, mt, es.id, acceptCall(fwID, []*mesosv1.OfferID{offer.GetId()}, commandTask("fine", offer.GetAgentId(), 1))); code != http.StatusAccepted {
		t.Fatalf("ACCEPT: %d %q", code, body)
	}
	var fine kmv1.Task
	eventually(t, "the first task created", func() bool {
		return env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: mesoswire.TaskName(fwID.GetValue(), "fine")}, &fine) == nil
	})

	testenv.Refuse(t, env.Client, testenv.Refusal{Name: "verdicts-tasks", Group: kmv1.GroupVersion.Group, Resource: "tasks",
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Allow: "object.metadata.namespace != '" + ns + "' || !has(object.metadata.annotations) || !('" + mesoswire.AnnotationTaskID + "' in object.metadata.annotations) || " +
			"object.metadata.annotations['" + mesoswire.AnnotationTaskID + "'] != 'denied'",
		Message: "tasks refused by the test", Reason: metav1.StatusReasonForbidden})
	testenv.Refuse(t, env.Client, testenv.Refusal{Name: "verdicts-frameworks", Group: kmv1.GroupVersion.Group, Resource: "frameworks",
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
		Allow:      "object.metadata.namespace != '" + ns + "' || !has(object.spec.failoverTimeoutSeconds) || object.spec.failoverTimeoutSeconds <= 1000",
		Message:    "failovers over 1000 s refused by the test"})
	eventually(t, "the policies in force", func() bool {
		probe := fine.DeepCopy()
		probe.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: mesoswire.TaskName(fwID.GetValue(), "denied"),
			Labels: fine.Labels, Annotations: map[string]string{mesoswire.AnnotationTaskID: "denied"}}
		err := env.Client.Create(ctx, probe, client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), "tasks refused by the test") {
			return false
		}
		var fws kmv1.FrameworkList
		if err := env.Client.List(ctx, &fws, client.InNamespace(ns)); err != nil || len(fws.Items) != 1 {
			return false
		}
		fw := fws.Items[0]
		fw.Spec.FailoverTimeoutSeconds = ptr.To[int32](5000)
		err = env.Client.Update(ctx, &fw, client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), "failovers over 1000 s refused by the test")
	})

	offer = es.latestOffer()
	c := acceptCall(fwID, []*mesosv1.OfferID{offer.GetId()}, commandTask("denied", offer.GetAgentId(), 1), commandTask("allowed", offer.GetAgentId(), 1))
	if code, body := call(t, url, mt, es.id, c); code != http.StatusAccepted {
		t.Fatalf("ACCEPT with a task the API server refuses: %d %q, want 202", code, body)
	}
	st := es.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus()
	if st.GetTaskId().GetValue() != "denied" || st.GetState() != mesosv1.TaskState_TASK_ERROR || st.GetReason() != mesosv1.TaskStatus_REASON_TASK_UNAUTHORIZED ||
		!strings.Contains(st.GetMessage(), "tasks refused by the test") {
		t.Errorf("the refused task: %v, want TASK_ERROR (REASON_TASK_UNAUTHORIZED) with the API server's message", st)
	}
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: mesoswire.TaskName(fwID.GetValue(), "denied")}, &kmv1.Task{}); !apierrors.IsNotFound(err) {
		t.Errorf("the refused task's Task: %v, want none", err)
	}
	eventually(t, "the call's other task created", func() bool {
		return env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: mesoswire.TaskName(fwID.GetValue(), "allowed")}, &kmv1.Task{}) == nil
	})

	update := frameworkInfo("verdicts")
	update.Id, update.FailoverTimeout = fwID, proto.Float64(5000)
	uf := &schedulerv1.Call{Type: schedulerv1.Call_UPDATE_FRAMEWORK.Enum(), FrameworkId: fwID, UpdateFramework: &schedulerv1.Call_UpdateFramework{FrameworkInfo: update}}
	if code, body := call(t, url, mt, es.id, uf); code != http.StatusBadRequest || !strings.Contains(body, "failovers over 1000 s refused by the test") {
		t.Errorf("UPDATE_FRAMEWORK the API server refuses: %d %q, want 400 with its message", code, body)
	}
	update.FailoverTimeout = proto.Float64(99)
	if code, body := call(t, url, mt, es.id, uf); code != http.StatusOK {
		t.Errorf("UPDATE_FRAMEWORK the API server takes: %d %q, want 200", code, body)
	}

	// A MESSAGE whose Event the API server refuses is dropped, as Mesos
	// drops a message it cannot deliver, with a 503 that says why (the
	// one refusal Mesos's scheduler library takes calmly).
	testenv.Refuse(t, env.Client, testenv.Refusal{Name: "verdicts-events", Group: "events.k8s.io", Resource: "events",
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Allow:      "object.metadata.namespace != '" + ns + "'", Message: "events refused by the test", Reason: metav1.StatusReasonForbidden})
	eventually(t, "the events policy in force", func() bool {
		probe := messages.Event(ns, "", messages.Message{To: kmv1.MessageToExecutor, Framework: "probe", Sender: "probe", Sequence: 1, Data: "probe"},
			messages.ControllerScheduler, "test")
		err := env.Client.Create(ctx, probe, client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), "events refused by the test")
	})
	msg := &schedulerv1.Call{FrameworkId: fwID, Type: schedulerv1.Call_MESSAGE.Enum(), Message: &schedulerv1.Call_Message{
		AgentId: offer.GetAgentId(), ExecutorId: &mesosv1.ExecutorID{Value: proto.String("exec-1")}, Data: []byte("hi")}}
	if code, body := call(t, url, mt, es.id, msg); code != http.StatusServiceUnavailable || !strings.Contains(body, "events refused by the test") {
		t.Errorf("MESSAGE whose Event the API server refuses: %d %q, want 503 with its message", code, body)
	}
}
