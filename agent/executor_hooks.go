package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// executorHooks are the agent's answers to the executor API's calls
// (ExecutorHooks): who a caller is, what a (re)subscribed executor is sent,
// the status updates and framework messages executors send. Each call runs
// under the context the server gives it, which ends with the agent.
type executorHooks struct {
	// tasks reads the node's Tasks, and the Frameworks, from the agent's
	// cache; live reads the API server, for what the cache may not show
	// yet.
	tasks client.Reader
	live  client.Reader
	// node is the agent's node.
	node  string
	clock clock.PassiveClock
	log   logr.Logger
	id    *identity
	auth  *executorAuthenticator
	// server numbers the subscriptions; dispatch sends the executors their
	// tasks.
	server   *ExecutorServer
	dispatch *dispatcher
	// updates takes the executors' status updates.
	updates *StatusUpdates
	// inbox carries the schedulers' messages to the executors, outbox the
	// executors' to the schedulers.
	inbox  *messageRelay
	outbox *outbox
	// requeue has the task reconciler look at an executor's tasks again.
	requeue *requeuer
}

var _ ExecutorHooks = (*executorHooks)(nil)

// AgentID is the agent's current agentID, "" before admission.
func (h *executorHooks) AgentID() string { return h.id.get() }

// Authenticate tells which executor a call comes from (executor_auth.go).
func (h *executorHooks) Authenticate(ctx context.Context, c Credentials) (ExecutorKey, error) {
	return h.auth.Authenticate(ctx, c)
}

// Subscribed re-launches what a (re)subscribed executor does not know yet
// (the executor API has taken back the updates it never saw acknowledged),
// and sends it the scheduler messages it has not acknowledged.
func (h *executorHooks) Subscribed(ctx context.Context, k ExecutorKey, s *executorapi.Subscribe) {
	held := map[string]bool{}
	if s != nil {
		for _, id := range s.UnacknowledgedTasks {
			held[id] = true
		}
		for _, u := range s.UnacknowledgedUpdates {
			held[u.TaskID] = true
		}
	}
	gen, ok := h.server.Subscription(k)
	if !ok {
		return // the stream already ended
	}
	var tasks kmv1.TaskList
	if err := h.tasks.List(ctx, &tasks, client.MatchingFields{indexTaskExecutor: k.String()}); err != nil {
		h.log.Error(err, "listing the tasks of an executor that subscribed", "executor", k.String())
		// The task reconciler launches what the executor lacks; it
		// cannot tell what the executor holds.
		h.dispatch.begin(k, gen, nil)
		if err := h.requeue.all(ctx); err != nil {
			h.log.Error(err, "requeueing the tasks after an executor subscribed", "executor", k.String())
		}
		return
	}
	agentID := h.id.get()
	var live []*kmv1.Task
	var known []types.UID
	for i := range tasks.Items {
		t := &tasks.Items[i]
		if t.Status.AgentID != agentID || t.Status.State.IsTerminal() {
			continue
		}
		live = append(live, t)
		// A task the executor holds, or that reached it on an earlier
		// stream though the cache shows it staging, is not launched on
		// this one, by this hook or by the task reconciler.
		if held[t.Name] || t.Status.State == kmv1.TaskStaging && ranAlready(ctx, h.updates, h.live, t) {
			known = append(known, t.UID)
		}
	}
	// A new stream: what was sent on the old one may be lost.
	h.dispatch.begin(k, gen, known)
	_, mesos, _ := h.server.MesosSubscription(k)
	for _, t := range live {
		if _, grouped := t.Annotations[mesoswire.AnnotationTaskGroupTasks]; grouped && mesos {
			continue // a task group goes whole, from the task reconciler (requeued below)
		}
		if t.Status.State == kmv1.TaskStaging {
			h.dispatch.launch(t) // once per stream: not the known ones
		}
	}
	if err := h.requeue.all(ctx); err != nil {
		h.log.Error(err, "requeueing the tasks after an executor subscribed", "executor", k.String())
	}
	h.inbox.flush(k)
}

// ranAlready reports whether a task that the cache shows staging has
// reached its executor all the same: an update of it is queued, or the API
// server holds one the cache does not show yet (the executor may have been
// acknowledged and subscribed again within that moment). Such a task is
// not launched again. When the API server cannot be read, it is launched,
// as before it could be. updates are the agent's status updates, live
// its reader of the API server (nil: none).
func ranAlready(ctx context.Context, updates *StatusUpdates, live client.Reader, t *kmv1.Task) bool {
	key := client.ObjectKeyFromObject(t)
	if len(updates.Pending(key)) > 0 {
		return true
	}
	if live == nil {
		return false
	}
	var now kmv1.Task
	if err := live.Get(ctx, key, &now); err != nil {
		return apierrors.IsNotFound(err)
	}
	return now.UID != t.UID || now.Status.State != kmv1.TaskStaging
}

// Unsubscribed requeues the tasks of an executor whose stream ended, so
// that the re-registration timeout starts for them now, not on whatever
// event happens to come next.
func (h *executorHooks) Unsubscribed(ctx context.Context, k ExecutorKey) {
	if err := h.requeue.executor(ctx, k); err != nil {
		h.log.Error(err, "requeueing the tasks of an executor that went away", "executor", k.String())
	}
}

// Update takes a status update from an executor: the task must be one of
// its tasks on this agent. It is checkpointed before the call returns.
func (h *executorHooks) Update(ctx context.Context, k ExecutorKey, s executorapi.TaskStatus) error {
	var t kmv1.Task
	key := types.NamespacedName{Namespace: k.Namespace, Name: s.TaskID}
	if err := h.tasks.Get(ctx, key, &t); apierrors.IsNotFound(err) {
		return &CallError{Status: http.StatusNotFound, Err: fmt.Errorf("task %s: no such task on this agent", key)}
	} else if err != nil {
		return fmt.Errorf("reading task %s: %w", key, err)
	}
	if string(t.Spec.Framework) != k.Framework || executorOf(&t).ExecutorID != k.ExecutorID {
		return badCall("task %s does not run on executor %s", s.TaskID, k.ExecutorID)
	}
	agentID := h.id.get()
	if t.Status.AgentID != agentID {
		return badCall("task %s is not placed on this agent (%s)", s.TaskID, agentID)
	}
	err := h.updates.Enqueue(ctx, Update{
		UUID: s.UUID, Task: key, AgentID: t.Status.AgentID, Framework: k.Framework, ExecutorID: k.ExecutorID, PodName: podNameFor(&t, agentID),
		State: kmv1.TaskState(s.State), Reason: kmv1.TaskReason(s.Reason), Source: kmv1.SourceExecutor,
		Message: s.Message, Data: s.Data, Healthy: s.Healthy, Timestamp: h.clock.Now(),
	})
	return slowDown(err)
}

// Message stores an executor's message to its scheduler before the call is
// answered.
func (h *executorHooks) Message(ctx context.Context, k ExecutorKey, m executorapi.Message) error {
	return h.outbox.store(ctx, k, m)
}

// AcknowledgeMessages takes an executor's word that it has the scheduler
// messages named: the agent stops keeping them and deletes their Events.
func (h *executorHooks) AcknowledgeMessages(_ context.Context, k ExecutorKey, ids []executorapi.MessageID) error {
	h.inbox.acknowledge(k, ids)
	return nil
}

// MesosIdentity is what a Mesos executor is told of its framework and
// agent: the Framework's UID is its Mesos framework ID.
func (h *executorHooks) MesosIdentity(ctx context.Context, k ExecutorKey) (MesosIdentity, error) {
	var fw kmv1.Framework
	if err := h.tasks.Get(ctx, types.NamespacedName{Namespace: k.Namespace, Name: k.Framework}, &fw); err != nil {
		return MesosIdentity{}, fmt.Errorf("reading framework %s/%s: %w", k.Namespace, k.Framework, err)
	}
	return MesosIdentity{FrameworkID: string(fw.UID), FrameworkName: fw.Name, Role: fw.Spec.Role, Hostname: h.node}, nil
}

// Task reads a Task from the agent's cache; nil when there is none.
func (h *executorHooks) Task(ctx context.Context, namespace, name string) (*kmv1.Task, error) {
	var t kmv1.Task
	if err := h.tasks.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &t); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading task %s/%s: %w", namespace, name, err)
	}
	return &t, nil
}

// slowDown turns a full queue into a 429 for the executor, which keeps its
// update and sends it again later.
func slowDown(err error) error {
	var full *QueueFullError
	if errors.As(err, &full) {
		return &CallError{Status: http.StatusTooManyRequests, Err: full}
	}
	return err
}
