package v1alpha1

import (
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Labels that kubemesos sets on Tasks, Offers and executor pods, so that
// kubectl users can select them with -l.
const (
	// LabelFramework names the Framework that an object belongs to.
	LabelFramework = "kubemesos.io/framework"
	// LabelAgent names the Agent (that is, the node) that an object is bound to.
	LabelAgent = "kubemesos.io/agent"
	// LabelExecutor names the executor ID of an executor pod.
	LabelExecutor = "kubemesos.io/executor"
	// LabelTask names the Task that a command-executor pod runs.
	LabelTask = "kubemesos.io/task"
	// LabelAPI marks a Framework driven through an API other than the
	// kubemesos SDK; its value names the API.
	LabelAPI = "kubemesos.io/api"
	// APIMesosV1 is the LabelAPI value of a Framework that the master's
	// Mesos v1 scheduler API made for a subscription.
	APIMesosV1 = "mesos-v1"
	// LabelComponent tells the kubemesos component (master, agent,
	// scheduler, executor) of a pod.
	LabelComponent = "kubemesos.io/component"
	// LabelLease marks the Leases that the master watches: "agent" for the
	// agents' heartbeats and "scheduler" for the schedulers' Leases. The
	// master's cache holds only Leases with this label.
	LabelLease = "kubemesos.io/lease"
)

// Values of LabelLease.
const (
	// LeaseKindAgent marks an agent heartbeat Lease.
	LeaseKindAgent = "agent"
	// LeaseKindScheduler marks a scheduler Lease.
	LeaseKindScheduler = "scheduler"
)

// Finalizers and lease names.
const (
	// FrameworkFinalizer keeps a Framework until its tasks are killed and
	// its executor and scheduler pods are gone.
	FrameworkFinalizer = "kubemesos.io/teardown"

	// MasterLeaseName is the Lease that elects the leading master, as
	// ZooKeeper does in Mesos.
	MasterLeaseName = "kubemesos-master"
	// AgentLeasePrefix prefixes the heartbeat Lease of each agent:
	// kubemesos-agent-<node>.
	AgentLeasePrefix = "kubemesos-agent-"
	// SchedulerLeasePrefix prefixes the Lease that the active scheduler of
	// a framework holds: kubemesos-scheduler-<framework>.
	SchedulerLeasePrefix = "kubemesos-scheduler-"
)

// AgentLeaseName returns the name of the heartbeat Lease of the agent on node.
func AgentLeaseName(node string) string { return AgentLeasePrefix + node }

// SchedulerLeaseName returns the name of the Lease that the scheduler of
// framework holds while it is connected.
func SchedulerLeaseName(framework string) string { return SchedulerLeasePrefix + framework }

// SchedulerLeaseLabels returns the labels of framework's scheduler Lease:
// the master watches only Leases labelled kubemesos.io/lease, and
// kubemesos.io/framework names whose Lease it is.
func SchedulerLeaseLabels(framework string) map[string]string {
	return map[string]string{LabelLease: LeaseKindScheduler, LabelFramework: framework}
}

// DefaultRole is the role of a Framework that names none, as in Mesos.
const DefaultRole = "*"

// AnnotationRoles on a Namespace lists, comma-separated, the roles other
// than DefaultRole that its Frameworks may take; "eng/*" grants eng's
// sub-roles. The chart's admission policy kubemesos-framework-role
// enforces it.
const AnnotationRoles = "kubemesos.io/roles"

// Validation patterns, documented here once and used by the CRD markers.
const (
	// RolePattern is the pattern of a role name: "*", or one or more
	// DNS-1123 labels joined by "/" for a hierarchical role such as
	// "eng/batch". Mesos allows a few more characters; kubemesos keeps to
	// names that are safe in labels, Lease names and metrics.
	RolePattern = `^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$`
)

// Offers and decline filters.
const (
	// AnnotationRefuseSeconds on a declined (deleted) Offer overrides the
	// framework's spec.offerFilters.refuseSeconds for that decline.
	AnnotationRefuseSeconds = "kubemesos.io/refuse-seconds"
	// AnnotationRevive on a Framework: each new value drops the
	// framework's decline filters, as a Mesos REVIVE does, so that every
	// agent is offered to it again at the next cycle. The scheduler SDK's
	// ReviveOffers sets it to the time; `kubectl annotate --overwrite`
	// does the same by hand.
	AnnotationRevive = "kubemesos.io/revive"
	// AnnotationLaunchTasks on a Task is how many Tasks its launch (one
	// LaunchTasks call, one Mesos ACCEPT) creates on the same offers. Once
	// that many are admitted the master consumes the offers at once,
	// rather than at the end of its accept window
	// (--offer-accept-window), as Mesos consumes an offer on its ACCEPT.
	// The scheduler SDK and the v1 scheduler API set it; without it, or
	// when fewer are admitted, the window decides.
	AnnotationLaunchTasks = "kubemesos.io/launch-tasks"
	// MaxLaunchTasks is the largest launch size AnnotationLaunchTasks may
	// say; a larger one, or a value that is no count, counts as none.
	MaxLaunchTasks = 4096
)

// SetLaunchTasks records in annotations that the Task's launch creates n
// Tasks (AnnotationLaunchTasks), and returns them: a new map when
// annotations is nil.
func SetLaunchTasks(annotations map[string]string, n int) map[string]string {
	if annotations == nil {
		annotations = make(map[string]string, 1)
	}
	annotations[AnnotationLaunchTasks] = strconv.Itoa(n)
	return annotations
}

// LaunchTasks is the launch size a Task says (AnnotationLaunchTasks), or 0
// when it says none or the value is no count from 1 to MaxLaunchTasks.
func LaunchTasks(annotations map[string]string) int {
	n, err := strconv.Atoi(annotations[AnnotationLaunchTasks])
	if err != nil || n < 1 || n > MaxLaunchTasks {
		return 0
	}
	return n
}

// Framework messages. Each message is an events.k8s.io Event in the
// framework's namespace, regarding the Framework, with the data as its note
// (at most 1024 bytes: what an Event's note holds). The receiver delivers a
// sender's messages in sequence order, once each, then deletes them.
const (
	// LabelMessage marks an Event that carries a framework message; its
	// value is MessageToExecutor or MessageToScheduler. The Event also
	// carries LabelFramework and LabelAgent (the node of the executor's
	// agent), and the annotations below.
	LabelMessage = "kubemesos.io/message"
	// MessageToExecutor is the LabelMessage value of a message from a
	// scheduler to an executor; the agent of the node in LabelAgent
	// delivers it.
	MessageToExecutor = "to-executor"
	// MessageToScheduler is the LabelMessage value of a message from an
	// executor to its scheduler; the executor's agent creates it.
	MessageToScheduler = "to-scheduler"
	// AnnotationMessageSender names the sender of a message: one scheduler
	// instance, or one executor driver behind one agent.
	AnnotationMessageSender = "kubemesos.io/message-sender"
	// AnnotationMessageSequence is the message's place in its sender's
	// sequence, from 1.
	AnnotationMessageSequence = "kubemesos.io/message-sequence"
	// AnnotationExecutorID names the executor that a message goes to or
	// comes from (and, on an executor pod, the executor it runs).
	AnnotationExecutorID = "kubemesos.io/executor-id"
	// AnnotationAgentID records an agentID: on an executor pod the agentID
	// it was launched under, on a message to a scheduler the agentID of
	// the executor's agent.
	AnnotationAgentID = "kubemesos.io/agent-id"
	// AnnotationShutdownExecutor on a Task asks its agent to shut the
	// task's custom executor down (SHUTDOWN, then its pod deleted) once the
	// executor runs no live task, whether or not its framework is done:
	// the Mesos scheduler API's SHUTDOWN call. Its value is when it was
	// asked (RFC 3339): a pod of the executor created later is not asked.
	AnnotationShutdownExecutor = "kubemesos.io/shutdown-executor"
	// ReasonFrameworkMessage is the reason of the Event that carries a
	// message from an executor to its scheduler.
	ReasonFrameworkMessage = "FrameworkMessage"
	// ReasonSchedulerMessage is the reason of the Event that carries a
	// message from a scheduler to an executor.
	ReasonSchedulerMessage = "SchedulerMessage"
)

// FrameworkOwner is the ownerReference to the Framework name of UID uid
// that the objects of a framework carry (its Tasks, Offers and scheduler
// Lease), so that the garbage collector deletes them with it.
func FrameworkOwner(name string, uid types.UID) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: GroupVersion.String(), Kind: "Framework", Name: name, UID: uid}
}

// FrameworkOwnerUID returns the UID of the Framework that owns obj (a
// scheduler Lease, say), and whether a Framework owns it.
func FrameworkOwnerUID(obj metav1.Object) (types.UID, bool) {
	for _, r := range obj.GetOwnerReferences() {
		if r.Kind == "Framework" && strings.HasPrefix(r.APIVersion, GroupVersion.Group+"/") {
			return r.UID, true
		}
	}
	return "", false
}
