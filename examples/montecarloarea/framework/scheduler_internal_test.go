package framework

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/sdk/scheduler"
)

// recordingDriver is the part of a driver the scheduler calls on offers
// and updates; it records launches and declines.
type recordingDriver struct {
	scheduler.SchedulerDriver
	fw       *kmv1.Framework
	launched map[string][]string // offer → task IDs
	declined map[string]*int32   // offer → refuse seconds
}

func (d *recordingDriver) Framework() *kmv1.Framework { return d.fw }

func (d *recordingDriver) LaunchTasks(offerIDs []string, tasks []scheduler.TaskInfo) error {
	for _, t := range tasks {
		d.launched[offerIDs[0]] = append(d.launched[offerIDs[0]], t.TaskID)
	}
	return nil
}

func (d *recordingDriver) DeclineOffer(offerID string, f *scheduler.Filters) error {
	var s *int32
	if f != nil {
		s = f.RefuseSeconds
	}
	d.declined[offerID] = s
	return nil
}

func (d *recordingDriver) ReviveOffers() error   { return nil }
func (d *recordingDriver) SuppressOffers() error { return nil }

// TestAnAgentThatRefusedAPodIsDeclinedForAWhile: after a kubelet refused
// the executor pod of a piece (REASON_CONTAINER_LAUNCH_FAILED), offers of
// that agent are declined, with a filter, for LaunchFailureBackoff; the
// piece is launched on another agent meanwhile, and on the first agent
// again afterwards.
func TestAnAgentThatRefusedAPodIsDeclinedForAWhile(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	d := &recordingDriver{
		fw: &kmv1.Framework{ObjectMeta: metav1.ObjectMeta{Name: "mc"}, Spec: kmv1.FrameworkSpec{Parameters: map[string]string{
			"expression": "2x2 + 3x", "xLow": "0", "xHigh": "10", "yLow": "0", "yHigh": "230", "points": "100", "tasks": "1", "maxRetries": "5"}}},
		launched: map[string][]string{}, declined: map[string]*int32{},
	}
	s := &Scheduler{DefaultImage: "img", Clock: clk}
	s.Registered(d, "fw-id")
	offer := func(name, agentID string) kmv1.Offer {
		o := builders.MakeOffer(name, "ns").Agent(agentID, "node-"+agentID).Resources("cpu", "4", "memory", "1Gi").Obj()
		return *o
	}
	s.ResourceOffers(d, []kmv1.Offer{offer("o1", "a1")})
	if len(d.launched["o1"]) != 1 {
		t.Fatalf("the piece was not launched on o1: %v", d.launched)
	}
	first := d.launched["o1"][0]
	s.StatusUpdate(d, scheduler.TaskStatus{TaskID: first, State: kmv1.TaskFailed, Reason: kmv1.ReasonContainerLaunchFailed, AgentID: "a1",
		Message: "the kubelet refused executor pod x: OutOfcpu"})

	s.ResourceOffers(d, []kmv1.Offer{offer("o2", "a1")})
	if secs, ok := d.declined["o2"]; !ok || secs == nil || *secs != int32(LaunchFailureBackoff/time.Second) {
		t.Errorf("an offer of the agent that refused the pod: declined %t with %v seconds, want declined for %v", ok, secs, LaunchFailureBackoff)
	}
	s.ResourceOffers(d, []kmv1.Offer{offer("o3", "a2")})
	if len(d.launched["o3"]) != 1 {
		t.Errorf("the piece was not launched again on another agent: %v", d.launched)
	}
	// The second attempt fails too, for another reason: a1 is not avoided
	// for it, and once the backoff has passed a1 is offered and used.
	s.StatusUpdate(d, scheduler.TaskStatus{TaskID: d.launched["o3"][0], State: kmv1.TaskFailed, Reason: kmv1.ReasonExecutorTerminated, AgentID: "a2"})
	clk.SetTime(clk.Now().Add(LaunchFailureBackoff))
	s.ResourceOffers(d, []kmv1.Offer{offer("o4", "a1")})
	if len(d.launched["o4"]) != 1 {
		t.Errorf("past the backoff, the agent was not used again: launched %v, declined %v", d.launched, d.declined)
	}
}
