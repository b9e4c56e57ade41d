// Package metrics defines the kubemesos_* Prometheus metrics of the master
// and the agent. They are registered with controller-runtime's registry, so
// they are served beside its own on --metrics-bind-address. Label values are
// bounded: outcomes, task states and agent phases.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

const namespace = "kubemesos"

// Offer outcomes, the values of the "outcome" label of OffersTotal.
const (
	OfferMade      = "made"
	OfferDeclined  = "declined"
	OfferRescinded = "rescinded"
	OfferConsumed  = "consumed"
)

var (
	// AllocationCycles counts allocation cycles.
	AllocationCycles = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "master", Name: "allocation_cycles_total",
		Help: "Allocation cycles run by the leading master.",
	})
	// AllocationDuration observes how long one allocation cycle takes,
	// from reading the caches to the last Offer write.
	AllocationDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "master", Name: "allocation_cycle_duration_seconds",
		Help:    "Duration of one allocation cycle, including its Offer writes.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	})
	// AllocatorDuration observes the pure DRF computation of one cycle.
	AllocatorDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "master", Name: "allocator_duration_seconds",
		Help:    "Duration of the DRF computation of one cycle, without API writes.",
		Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16),
	})
	// OffersTotal counts offers by outcome: made, declined, rescinded, consumed.
	OffersTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "master", Name: "offers_total",
		Help: "Offers by outcome: made, declined (deleted by the scheduler), rescinded, consumed (used by tasks).",
	}, []string{"outcome"})
	// TaskTransitions counts the task states that the master wrote.
	TaskTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "master", Name: "task_transitions_total",
		Help: "Task states written by the master (TASK_STAGING, TASK_ERROR, TASK_DROPPED, TASK_LOST).",
	}, []string{"state"})
	// Tasks is the number of tasks by state, as the master's cache sees them.
	Tasks = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "master", Name: "tasks",
		Help: "Tasks by state, from the master's cache.",
	}, []string{"state"})
	// Agents is the number of agents by phase.
	Agents = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "master", Name: "agents",
		Help: "Agents by phase.",
	}, []string{"phase"})
	// AgentRemovalsDeferred counts agents whose removal the rate limit deferred.
	AgentRemovalsDeferred = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "master", Name: "agent_removals_deferred_total",
		Help: "Times an agent's move to Unreachable waited for the --agent-removal-rate-limit.",
	})
)

func init() {
	ctrlmetrics.Registry.MustRegister(AllocationCycles, AllocationDuration, AllocatorDuration, OffersTotal,
		TaskTransitions, Tasks, Agents, AgentRemovalsDeferred)
}
