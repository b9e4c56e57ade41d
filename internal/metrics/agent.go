package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CallTypeUnknown is the "type" of an executor API call refused before its
// type was read.
const CallTypeUnknown = "UNKNOWN"

// The agent's metrics, each about its own node.
var (
	// ExecutorAPICalls counts the executor API's calls by type (SUBSCRIBE,
	// UPDATE, MESSAGE, ACKNOWLEDGE_MESSAGES, HEARTBEAT; UNKNOWN when the
	// call was refused before its type was read) and the HTTP status
	// code of the answer. A SUBSCRIBE counts when its stream opens (200)
	// or it is refused.
	ExecutorAPICalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "agent", Name: "executor_api_calls_total",
		Help: "Executor API calls by type and HTTP status code of the answer (UNKNOWN: refused before the type was read).",
	}, []string{"type", "code"})
	// SubscribedExecutors is the number of executors with an open
	// SUBSCRIBE stream.
	SubscribedExecutors = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "agent", Name: "subscribed_executors",
		Help: "Executors with an open SUBSCRIBE stream on this agent.",
	})

	queued, oldest source
	// StatusUpdatesQueued is the number of status updates checkpointed
	// and not yet written into their Task status.
	StatusUpdatesQueued = gaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "agent", Name: "status_updates_queued",
		Help: "Task status updates checkpointed by the agent and not yet written into the API server.",
	}, &queued)
	// StatusUpdateOldestAge is how long the oldest unwritten status update
	// has waited; 0 when none waits.
	StatusUpdateOldestAge = gaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "agent", Name: "status_update_oldest_age_seconds",
		Help: "Age of the oldest task status update not yet written into the API server (0: none waits).",
	}, &oldest)
)

// ObserveStatusUpdateBacklog makes StatusUpdatesQueued and
// StatusUpdateOldestAge read f at each scrape: the updates waiting, and
// how long the oldest has waited.
func ObserveStatusUpdateBacklog(f func() (updates int, oldest time.Duration)) {
	queued.set(func() float64 { n, _ := f(); return float64(n) })
	oldest.set(func() float64 { _, age := f(); return age.Seconds() })
}

// RegisterAgent registers the agent's metrics with reg.
func RegisterAgent(reg prometheus.Registerer) error {
	return register(reg, []prometheus.Collector{ExecutorAPICalls, SubscribedExecutors, StatusUpdatesQueued, StatusUpdateOldestAge})
}
