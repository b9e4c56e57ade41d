package mesosapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

// TestAFrameworkTheAPIServerRefusesGetsAnError: a SUBSCRIBE whose
// Framework an admission policy refuses (the chart's refuses, with 403, a
// role that the namespace is not granted; a policy without a reason
// answers 422) gets the refusal as an ERROR on its stream, as Mesos answers
// a framework it does not authorize, not a 500 that the scheduler would
// retry for ever. The chart's leader fence, which refuses a master that
// no longer leads, is about the master: 503, and the scheduler subscribes
// again, to the leader.
func TestAFrameworkTheAPIServerRefusesGetsAnError(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	refuse := func(name, role string, reason metav1.StatusReason) {
		testenv.Refuse(t, env.Client, testenv.Refusal{Name: name, Group: kmv1.GroupVersion.Group, Resource: "frameworks",
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			Allow:      "object.spec.role != '" + role + "'", Message: "role " + role + " refused by the test", Reason: reason})
		eventually(t, "the policy refusing role "+role, func() bool {
			fw := &kmv1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe"}, Spec: kmv1.FrameworkSpec{Role: role}}
			err := env.Client.Create(ctx, fw, client.DryRunAll)
			return err != nil && strings.Contains(err.Error(), "refused by the test")
		})
	}
	refuse("refuse-role-forbidden", "forbidden", metav1.StatusReasonForbidden)
	refuse("refuse-role-invalid", "invalid", "")
	refuse("kubemesos-master-leader", "fenced", metav1.StatusReasonForbidden)

	url := startAPI(t, apiOptions(t, ns), false)
	for _, role := range []string{"forbidden", "invalid"} {
		info := frameworkInfo(role)
		info.Role = proto.String(role)
		es := subscribe(t, url, mesoswire.MediaJSON, info)
		msg := es.next(schedulerv1.Event_ERROR).GetError().GetMessage()
		if !strings.HasPrefix(msg, "Framework refused by the API server: ") || !strings.Contains(msg, "role "+role+" refused by the test") {
			t.Errorf("the SUBSCRIBE of role %s got ERROR %q, want the API server's refusal", role, msg)
		}
		es.ended()
	}
	info := frameworkInfo("fenced")
	info.Role = proto.String("fenced")
	resp := request{contentType: mesoswire.MediaJSON, accept: mesoswire.MediaJSON, body: encode(t, mesoswire.MediaJSON, subscribeCall(info))}.do(t, url)
	if code, body := answer(t, resp); code != http.StatusServiceUnavailable || !strings.Contains(body, "no longer leads") {
		t.Errorf("a SUBSCRIBE that the leader fence refused answered %d %q, want 503", code, body)
	}
	var fws kmv1.FrameworkList
	if err := env.Client.List(ctx, &fws, client.InNamespace(ns)); err != nil || len(fws.Items) != 0 {
		t.Errorf("frameworks %v, %v: want none", fws.Items, err)
	}

	// A SUBSCRIBE again, whose change of its Framework is refused, gets
	// the same ERROR.
	testenv.Refuse(t, env.Client, testenv.Refusal{Name: "refuse-frozen-update", Group: kmv1.GroupVersion.Group, Resource: "frameworks",
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
		Allow:      "object.spec.role != 'frozen'", Message: "framework frozen by the test", Reason: metav1.StatusReasonForbidden})
	frozen := frameworkInfo("frozen")
	frozen.Role = proto.String("frozen")
	first := subscribe(t, url, mesoswire.MediaJSON, frozen)
	frozen.Id = first.next(schedulerv1.Event_SUBSCRIBED).GetSubscribed().GetFrameworkId()
	eventually(t, "the policy refusing a change of the frozen framework", func() bool {
		var l kmv1.FrameworkList
		if env.Client.List(ctx, &l, client.InNamespace(ns)) != nil || len(l.Items) != 1 {
			return false
		}
		fw := l.Items[0]
		fw.Spec.Parameters = map[string]string{"probe": "1"}
		err := env.Client.Update(ctx, &fw, client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), "frozen by the test")
	})
	again := subscribe(t, url, mesoswire.MediaJSON, frozen)
	if msg := again.next(schedulerv1.Event_ERROR).GetError().GetMessage(); !strings.Contains(msg, "Framework refused by the API server: ") ||
		!strings.Contains(msg, "frozen by the test") {
		t.Errorf("the refused re-SUBSCRIBE got ERROR %q, want the API server's refusal", msg)
	}
	again.ended()

	// Another role subscribes as before.
	ok := subscribe(t, url, mesoswire.MediaJSON, frameworkInfo("allowed"))
	ok.next(schedulerv1.Event_SUBSCRIBED)
}
