package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// Offer outcomes, the values of the "outcome" label of OffersTotal.
const (
	OfferMade      = "made"
	OfferDeclined  = "declined"
	OfferRescinded = "rescinded"
	OfferConsumed  = "consumed"
)

// The master's metrics. Those marked "leader only" are set by the leading
// master alone; a standby serves them at their last value or not at all,
// so a query must take the leader's (with leader_election_master_status)
// or the max over the replicas.
var (
	// AllocationCycles counts allocation cycles (leader only).
	AllocationCycles = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "master", Name: "allocation_cycles_total",
		Help: "Allocation cycles run by the leading master (leader only).",
	})
	// AllocationDuration observes how long one allocation cycle takes,
	// from reading the caches to the last Offer write (leader only).
	AllocationDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "master", Name: "allocation_cycle_duration_seconds",
		Help:    "Duration of one allocation cycle, including its Offer writes (leader only).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	})
	// AllocatorDuration observes the pure DRF computation of one cycle
	// (leader only).
	AllocatorDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "master", Name: "allocator_duration_seconds",
		Help:    "Duration of the DRF computation of one cycle, without API writes (leader only).",
		Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16),
	})
	// OffersTotal counts offers by outcome: made, declined, rescinded,
	// consumed (leader only).
	OffersTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "master", Name: "offers_total",
		Help: "Offers by outcome: made, declined (deleted by the scheduler), rescinded, consumed (used by tasks) (leader only).",
	}, []string{"outcome"})
	// TaskTransitions counts the task states that the master wrote itself
	// (leader only). TasksTerminated counts every task's end, whoever
	// wrote it.
	TaskTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "master", Name: "task_transitions_total",
		Help: "Task states written by the master itself (TASK_STAGING, TASK_ERROR, TASK_DROPPED, TASK_LOST) (leader only).",
	}, []string{"state"})
	// TasksTerminated counts the tasks seen to reach a terminal state, by
	// that state and the source of the status (master, agent or
	// executor), as the master's Task informer sees them. Every replica
	// counts (standbys watch too), so replicas are aggregated with max,
	// never sum; a task that was terminal before a replica started is not
	// counted by it.
	TasksTerminated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "master", Name: "tasks_terminated_total",
		Help: "Tasks seen to reach a terminal state, by state and status source, whoever wrote it (every replica counts: aggregate with max, not sum).",
	}, []string{"state", "source"})
	// Tasks is the number of tasks by state, as the master's cache sees
	// them (leader only).
	Tasks = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "master", Name: "tasks",
		Help: "Tasks by state, from the master's cache (leader only).",
	}, []string{"state"})
	// Agents is the number of agents by phase (leader only).
	Agents = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "master", Name: "agents",
		Help: "Agents by phase (leader only).",
	}, []string{"phase"})
	// Frameworks is the number of frameworks by phase; Pending includes
	// those not yet registered (leader only).
	Frameworks = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "master", Name: "frameworks",
		Help: "Frameworks by phase, from the master's cache; Pending includes those not yet registered (leader only).",
	}, []string{"phase"})
	// AgentRemovalsDeferred counts the times an agent's removal waited
	// for the rate limit: one agent held back for long counts many times.
	AgentRemovalsDeferred = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "master", Name: "agent_removals_deferred_total",
		Help: "Times an agent's move to Unreachable waited for the --agent-removal-rate-limit (each retry counts; see agent_removals_held) (leader only).",
	})
	// AgentRemovalsHeld is the number of agents whose heartbeat expired
	// and whose removal the rate limit holds back now: above zero, the
	// limit is being hit.
	AgentRemovalsHeld = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "master", Name: "agent_removals_held",
		Help: "Agents whose heartbeat expired and whose move to Unreachable the --agent-removal-rate-limit holds back now (leader only).",
	})

	unacknowledged source
	// MesosAPIUnacknowledgedUpdates is the number of status updates that
	// the scheduler API sent on its open streams and that their
	// frameworks have not acknowledged (only the leader has streams).
	MesosAPIUnacknowledgedUpdates = gaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "master", Name: "mesos_api_unacknowledged_updates",
		Help: "Status updates sent on the Mesos scheduler API's open streams and not acknowledged yet (only the leader has streams).",
	}, &unacknowledged)
)

// ObserveUnacknowledgedUpdates makes MesosAPIUnacknowledgedUpdates read
// f at each scrape.
func ObserveUnacknowledgedUpdates(f func() int) {
	unacknowledged.set(func() float64 { return float64(f()) })
}

// terminalStates and sources are the values TasksTerminated starts with.
var (
	terminalStates = []kmv1.TaskState{kmv1.TaskFinished, kmv1.TaskFailed, kmv1.TaskKilled, kmv1.TaskError, kmv1.TaskLost, kmv1.TaskDropped}
	sources        = []kmv1.TaskSource{kmv1.SourceMaster, kmv1.SourceAgent, kmv1.SourceExecutor}
)

// RegisterMaster registers the master's metrics with reg, each counter's
// known label values at zero, so that rate() and increase() see a
// series's first increment.
func RegisterMaster(reg prometheus.Registerer) error {
	for _, o := range []string{OfferMade, OfferDeclined, OfferRescinded, OfferConsumed} {
		OffersTotal.WithLabelValues(o)
	}
	for _, s := range []kmv1.TaskState{kmv1.TaskStaging, kmv1.TaskError, kmv1.TaskDropped, kmv1.TaskLost} {
		TaskTransitions.WithLabelValues(string(s))
	}
	for _, s := range terminalStates {
		for _, src := range sources {
			TasksTerminated.WithLabelValues(string(s), string(src))
		}
	}
	return register(reg, []prometheus.Collector{AllocationCycles, AllocationDuration, AllocatorDuration, OffersTotal,
		TaskTransitions, TasksTerminated, Tasks, Agents, Frameworks, AgentRemovalsDeferred, AgentRemovalsHeld,
		MesosAPIUnacknowledgedUpdates})
}
