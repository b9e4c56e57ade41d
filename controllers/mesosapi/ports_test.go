package mesosapi_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// nextOffer returns the next offer the stream carries, those that came
// while it waited for other events first.
func (es *eventStream) nextOffer() *mesosv1.Offer {
	es.t.Helper()
	if len(es.offers) == 0 {
		es.offers = es.next(schedulerv1.Event_OFFERS).GetOffers().GetOffers()
	}
	o := es.offers[0]
	es.offers = es.offers[1:]
	return o
}

// offeredPorts is the ports resource of an offer in Mesos's range
// syntax, failing the test on a scalar that counts ports.
func offeredPorts(t *testing.T, o *mesosv1.Offer) string {
	t.Helper()
	var out string
	for _, r := range o.GetResources() {
		switch r.GetName() {
		case "ports":
			if r.GetType() != mesosv1.Value_RANGES || r.GetAllocationInfo().GetRole() != "*" {
				t.Errorf("ports %v: want ranges allocated to role *", r)
			}
			out = "["
			for i, x := range r.GetRanges().GetRange() {
				if i > 0 {
					out += ","
				}
				out += fmt.Sprintf("%d-%d", x.GetBegin(), x.GetEnd())
			}
			out += "]"
		case string(kmv1.ResourcePorts):
			t.Errorf("offer %v carries %s as a Mesos resource", o, kmv1.ResourcePorts)
		}
	}
	return out
}

// portsResource is a `ports` resource of the ranges begin-end.
func portsResource(pairs ...uint64) *mesosv1.Resource {
	r := &mesosv1.Resource{Name: proto.String("ports"), Type: mesosv1.Value_RANGES.Enum(), Ranges: &mesosv1.Value_Ranges{}}
	for i := 0; i+1 < len(pairs); i += 2 {
		r.Ranges.Range = append(r.Ranges.Range, &mesosv1.Value_Range{Begin: proto.Uint64(pairs[i]), End: proto.Uint64(pairs[i+1])})
	}
	return r
}

// TestOffersCarryPorts: an offer carries the agent's ports as Mesos
// ranges; a task launched with ports from it holds them (Task spec.ports
// and kubemesos.io/ports), so that the agent's next offer leaves them
// out; a task that asks for ports the offers do not carry, or that an
// earlier task of the same ACCEPT took, gets TASK_ERROR.
func TestOffersCarryPorts(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	agent := b.MakeAgent("ports-node").Resources("cpu", "4", "memory", "8Gi", string(kmv1.ResourcePorts), "10").Endpoint("127.0.0.1:5051").Obj()
	agent.Spec.Ports = []kmv1.PortRange{{Begin: 31000, End: 31004}, {Begin: 32000, End: 32004}}
	registerAgent(t, agent)
	url := startAPI(t, apiOptions(t, ns), false)
	mt := mesoswire.MediaJSON
	es := subscribe(t, url, mt, frameworkInfo("ports"))
	fwID := es.next(schedulerv1.Event_SUBSCRIBED).GetSubscribed().GetFrameworkId()

	offer := es.nextOffer()
	if got := offeredPorts(t, offer); got != "[31000-31004,32000-32004]" {
		t.Fatalf("the first offer carries ports %s, want 31000-31004 and 32000-32004", got)
	}
	task := func(id string, ports ...uint64) *mesosv1.TaskInfo {
		return &mesosv1.TaskInfo{Name: proto.String(id), TaskId: &mesosv1.TaskID{Value: proto.String(id)}, AgentId: offer.GetAgentId(),
			Resources: []*mesosv1.Resource{scalar("cpus", 0.5), scalar("mem", 64), portsResource(ports...)},
			Command:   &mesosv1.CommandInfo{Value: proto.String("sleep 1000")}}
	}
	c := &schedulerv1.Call{FrameworkId: fwID, Type: schedulerv1.Call_ACCEPT.Enum(), Accept: &schedulerv1.Call_Accept{
		OfferIds: []*mesosv1.OfferID{offer.GetId()},
		Operations: []*mesosv1.Offer_Operation{{Type: mesosv1.Offer_Operation_LAUNCH.Enum(), Launch: &mesosv1.Offer_Operation_Launch{TaskInfos: []*mesosv1.TaskInfo{
			task("web", 31000, 31001, 32004, 32004), task("taken", 31001, 31001), task("outside", 40000, 40000), task("reversed", 31003, 31002),
		}}}},
	}}
	if code, body := call(t, url, mt, es.id, c); code != http.StatusAccepted {
		t.Fatalf("ACCEPT answered %d %q", code, body)
	}
	for _, want := range []struct{ id, msg string }{
		{"taken", "Total resources ports:[31001-31001] required by task and its executor is more than available ports:[31002-31004,32000-32003]"},
		{"outside", "Total resources ports:[40000-40000] required by task and its executor is more than available ports:[31002-31004,32000-32003]"},
		{"reversed", "Invalid resources: Invalid ranges resource: begin > end"},
	} {
		st := es.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus()
		if st.GetTaskId().GetValue() != want.id || st.GetState() != mesosv1.TaskState_TASK_ERROR || st.GetReason() != mesosv1.TaskStatus_REASON_TASK_INVALID ||
			st.GetMessage() != want.msg {
			t.Fatalf("update %v: want TASK_ERROR for %s (%q)", st, want.id, want.msg)
		}
	}

	var web kmv1.Task
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: mesoswire.TaskName(fwID.GetValue(), "web")}, &web); err != nil {
		t.Fatal(err)
	}
	if n := web.Spec.Resources[kmv1.ResourcePorts]; n.Value() != 3 ||
		len(web.Spec.Ports) != 2 || web.Spec.Ports[0] != (kmv1.PortRange{Begin: 31000, End: 31001}) || web.Spec.Ports[1] != (kmv1.PortRange{Begin: 32004, End: 32004}) {
		t.Fatalf("task web holds ports %v, %s of %s; want 31000-31001 and 32004, 3", web.Spec.Ports, n.String(), kmv1.ResourcePorts)
	}

	// The offer is consumed; the agent's next offer leaves out the ports
	// that the live task holds.
	next := es.nextOffer()
	if next.GetId().GetValue() == offer.GetId().GetValue() {
		t.Fatalf("the consumed offer %s came again", offer.GetId().GetValue())
	}
	if got := offeredPorts(t, next); got != "[31002-31004,32000-32003]" {
		t.Fatalf("the next offer carries ports %s, want 31002-31004 and 32000-32003", got)
	}

	// web ends, and its ports are free again: the offer sent still
	// carries the ports it was sent with, and a task launched on the
	// highest of them gets them.
	patch := client.MergeFrom(web.DeepCopy())
	web.Status.State, web.Status.Source = kmv1.TaskFinished, kmv1.SourceExecutor
	if err := env.Client.Status().Patch(ctx, &web, patch); err != nil {
		t.Fatal(err)
	}
	if st := es.next(schedulerv1.Event_UPDATE).GetUpdate().GetStatus(); st.GetTaskId().GetValue() != "web" || st.GetState() != mesosv1.TaskState_TASK_FINISHED {
		t.Fatalf("update %v, want web TASK_FINISHED", st)
	}
	c.Accept.OfferIds = []*mesosv1.OfferID{next.GetId()}
	c.Accept.Operations[0].Launch.TaskInfos = []*mesosv1.TaskInfo{task("late", 32002, 32003)}
	if code, body := call(t, url, mt, es.id, c); code != http.StatusAccepted {
		t.Fatalf("ACCEPT answered %d %q", code, body)
	}
	var late kmv1.Task
	eventually(t, "task late launched on the ports its offer was sent with", func() bool {
		return env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: mesoswire.TaskName(fwID.GetValue(), "late")}, &late) == nil
	})
	if len(late.Spec.Ports) != 1 || late.Spec.Ports[0] != (kmv1.PortRange{Begin: 32002, End: 32003}) {
		t.Errorf("task late holds ports %v, want 32002-32003", late.Spec.Ports)
	}
}
