package mesosapi_test

import (
	"context"
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
// Framework an admission policy refuses (the chart's refuses a role that
// the namespace is not granted) gets the refusal as an ERROR on its stream,
// as Mesos answers a framework it does not authorize, not a 500 that the
// scheduler would retry for ever.
func TestAFrameworkTheAPIServerRefusesGetsAnError(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	testenv.Refuse(t, env.Client, testenv.Refusal{Name: "refuse-role-refused", Group: kmv1.GroupVersion.Group, Resource: "frameworks",
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Allow:      "object.spec.role != 'refused'", Message: "role refused by the test"})
	eventually(t, "the policy refusing role refused", func() bool {
		fw := &kmv1.Framework{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe"}, Spec: kmv1.FrameworkSpec{Role: "refused"}}
		err := env.Client.Create(ctx, fw, client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), "role refused by the test")
	})

	url := startAPI(t, apiOptions(t, ns), false)
	info := frameworkInfo("refused")
	info.Role = proto.String("refused")
	es := subscribe(t, url, mesoswire.MediaJSON, info)
	msg := es.next(schedulerv1.Event_ERROR).GetError().GetMessage()
	if !strings.HasPrefix(msg, "Framework refused by the API server: ") || !strings.Contains(msg, "role refused by the test") {
		t.Errorf("the refused SUBSCRIBE got ERROR %q, want the API server's refusal", msg)
	}
	es.ended()
	var fws kmv1.FrameworkList
	if err := env.Client.List(ctx, &fws, client.InNamespace(ns)); err != nil || len(fws.Items) != 0 {
		t.Errorf("frameworks %v, %v: want none", fws.Items, err)
	}

	// Another role subscribes as before.
	ok := subscribe(t, url, mesoswire.MediaJSON, frameworkInfo("allowed"))
	ok.next(schedulerv1.Event_SUBSCRIBED)
}
