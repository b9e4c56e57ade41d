package agent

import (
	"context"
	"fmt"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/kubemesos/kubemesos/internal/messages"
)

// RecorderName is the reportingController of the agent's Events.
const RecorderName = "kubemesos-agent"

// NewRecorder returns the event recorder of the agent of node: it records
// events.k8s.io Events through mgr's config, each reported by
// RecorderName as the node's name (messages.ReportingInstance), and sends
// them, and logs them at V(1), until ctx ends. The chart's
// kubemesos-agent-node policy holds an agent to the Events it reports so
// as its own node: it cannot touch another node's reports. The recorder
// of client-go and controller-runtime names the instance after the host,
// which is not the node: one host runs many nodes' agents (the hollow
// agents of the scale suite, the local cluster), and a kubelet's node
// name may differ from its host name.
func NewRecorder(ctx context.Context, mgr manager.Manager, node string) (events.EventRecorder, error) {
	cs, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("building the event client of agent %s: %w", node, err)
	}
	b := events.NewBroadcaster(instanceSink{EventSink: &events.EventSinkImpl{Interface: cs.EventsV1()}, instance: messages.ReportingInstance(node)})
	if err := b.StartRecordingToSinkWithContext(ctx); err != nil {
		return nil, fmt.Errorf("starting the event recorder of agent %s: %w", node, err)
	}
	// Logged as well, as controller-runtime's recorder logs them.
	if _, err := b.StartLogging(mgr.GetLogger().WithName("events").V(1)); err != nil {
		b.Shutdown()
		return nil, fmt.Errorf("logging the events of agent %s: %w", node, err)
	}
	go func() {
		<-ctx.Done()
		b.Shutdown()
	}()
	return b.NewRecorder(mgr.GetScheme(), RecorderName), nil
}

// instanceSink writes Events with instance as their reportingInstance.
// A series' later counts are patches of the Event created first, which
// already has it.
type instanceSink struct {
	events.EventSink
	instance string
}

// Create implements events.EventSink.
func (s instanceSink) Create(ctx context.Context, e *eventsv1.Event) (*eventsv1.Event, error) {
	e = e.DeepCopy()
	e.ReportingInstance = s.instance
	return s.EventSink.Create(ctx, e)
}

// Update implements events.EventSink.
func (s instanceSink) Update(ctx context.Context, e *eventsv1.Event) (*eventsv1.Event, error) {
	e = e.DeepCopy()
	e.ReportingInstance = s.instance
	return s.EventSink.Update(ctx, e)
}
