package mesosapi

import (
	"context"
	"fmt"
	"maps"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
	"github.com/kubemesos/kubemesos/internal/portrange"
	"github.com/kubemesos/kubemesos/internal/resources"
)

// DefaultCommandImage runs a command task that names no image (unless
// --mesos-api-command-image says otherwise): a small image with /bin/sh,
// where a Mesos command task runs on the agent's host.
const DefaultCommandImage = "busybox:1.37"

var envNameRE = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)

// decline deletes the offers, each with the decline's filter, as the
// SDK's DeclineOffer does. Offers that are gone already, or another
// framework's, are skipped.
func (s *Server) decline(ctx context.Context, st *stream, ids []*mesosv1.OfferID, filters *mesosv1.Filters) error {
	for _, id := range ids {
		name := id.GetValue()
		o := &kmv1.Offer{}
		if err := s.c.Get(ctx, types.NamespacedName{Namespace: st.namespace, Name: name}, o); apierrors.IsNotFound(err) {
			continue
		} else if err != nil {
			return fmt.Errorf("reading offer %s: %w", name, err)
		}
		if o.Spec.FrameworkID != st.frameworkID {
			continue
		}
		st.settle(name)
		if filters != nil {
			if err := s.annotateRefusal(ctx, o, filters); apierrors.IsNotFound(err) {
				continue
			} else if err != nil {
				return err
			}
		}
		if err := s.schedulerClient.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("declining offer %s: %w", name, err)
		}
	}
	return nil
}

// annotateRefusal records on an Offer how long its framework refuses the
// agent once the Offer is gone: filters.refuse_seconds (Mesos's default
// 5 s when unset), within a day.
func (s *Server) annotateRefusal(ctx context.Context, o *kmv1.Offer, filters *mesosv1.Filters) error {
	refuse := strconv.FormatInt(int64(math.Min(math.Max(filters.GetRefuseSeconds(), 0), 86400)), 10)
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, kmv1.AnnotationRefuseSeconds, refuse)
	ref := &kmv1.Offer{ObjectMeta: metav1.ObjectMeta{Namespace: o.Namespace, Name: o.Name}}
	if err := s.schedulerClient.Patch(ctx, ref, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("recording the filter of offer %s: %w", o.Name, err)
	}
	return nil
}

// accept carries out an ACCEPT: every operation is checked before any
// Task is created; a task that does not pass gets a TASK_ERROR update
// and the others are launched. Offers left without a task are declined
// with the call's filters.
func (s *Server) accept(ctx context.Context, st *stream, a *schedulerv1.Call_Accept) error {
	offers, invalid := s.acceptedOffers(ctx, st, a.GetOfferIds())
	var tasks []*kmv1.Task
	l := &launch{s: s, st: st, offers: offers, offerIDs: offerNames(a.GetOfferIds()), seen: map[string]bool{}, execs: &executorCheck{s: s, st: st}}
	for _, op := range a.GetOperations() {
		switch op.GetType() {
		case mesosv1.Offer_Operation_LAUNCH:
			for _, ti := range op.GetLaunch().GetTaskInfos() {
				if invalid != "" {
					l.lost(ctx, ti, invalid)
					continue
				}
				t, msg, err := l.task(ctx, ti)
				if err != nil {
					return err
				}
				if msg != "" {
					st.sendWait(ctx, s.masterUpdate(ti, mesosv1.TaskState_TASK_ERROR, mesosv1.TaskStatus_REASON_TASK_INVALID, msg))
					continue
				}
				tasks = append(tasks, t)
			}
		case mesosv1.Offer_Operation_LAUNCH_GROUP:
			group, err := l.group(ctx, op.GetLaunchGroup(), invalid)
			if err != nil {
				return err
			}
			tasks = append(tasks, group...)
		default:
			s.log.Info("ignored an offer operation that kubemesos does not support", "operation", op.GetType().String(), "stream", st.id)
		}
	}
	for _, id := range a.GetOfferIds() {
		st.settle(id.GetValue())
	}
	if len(tasks) > 0 && a.GetFilters() != nil {
		// What the tasks leave of the offers is filtered for the
		// framework as the call asks, once the master consumes them.
		for _, o := range offers {
			// An offer gone meanwhile (rescinded, or used up by a launch
			// before this one) needs no filter: its tasks are dropped.
			if err := s.annotateRefusal(ctx, o, a.GetFilters()); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
	}
	var created int
	for _, t := range tasks {
		// The master uses the offers up once all are admitted.
		t.Annotations = kmv1.SetLaunchTasks(t.Annotations, len(tasks))
		err := s.schedulerClient.Create(ctx, t)
		if apierrors.IsAlreadyExists(err) {
			err = s.replaceEnded(ctx, t)
		}
		info := &mesosv1.TaskInfo{TaskId: &mesosv1.TaskID{Value: ptr.To(t.Annotations[mesoswire.AnnotationTaskID])}, AgentId: &mesosv1.AgentID{Value: &t.Spec.AgentID}}
		switch {
		case apierrors.IsAlreadyExists(err):
			st.sendWait(ctx, s.masterUpdate(info, mesosv1.TaskState_TASK_ERROR, mesosv1.TaskStatus_REASON_TASK_INVALID,
				"Task has duplicate ID: "+t.Annotations[mesoswire.AnnotationTaskID]))
		case apierrors.IsInvalid(err):
			// A TaskInfo past what a Task holds (a grace period over an
			// hour, data over 48 KiB, ...): the API server says what.
			st.sendWait(ctx, s.masterUpdate(info, mesosv1.TaskState_TASK_ERROR, mesosv1.TaskStatus_REASON_TASK_INVALID,
				"Task is invalid: "+err.Error()))
		case verdictOn(err) == http.StatusForbidden:
			// The framework may not create this Task: RBAC, a quota on
			// Tasks, or a policy of the cluster's. Mesos's master answers
			// a launch it does not authorize so; the call's other tasks
			// go on.
			st.sendWait(ctx, s.masterUpdate(info, mesosv1.TaskState_TASK_ERROR, mesosv1.TaskStatus_REASON_TASK_UNAUTHORIZED,
				"Not authorized to launch the task: "+err.Error()))
		case err != nil:
			return fmt.Errorf("creating Task %s/%s: %w", t.Namespace, t.Name, err)
		default:
			created++
		}
	}
	if created == 0 && len(offers) > 0 {
		ids := make([]*mesosv1.OfferID, 0, len(offers))
		for _, o := range offers {
			ids = append(ids, &mesosv1.OfferID{Value: ptr.To(o.Name)})
		}
		filters := a.GetFilters()
		if invalid != "" {
			filters = &mesosv1.Filters{RefuseSeconds: ptr.To(0.0)}
		}
		return s.decline(ctx, st, ids, filters)
	}
	return nil
}

// replaceEnded creates t in place of the Task of the same Mesos task ID
// once that Task has ended and the framework acknowledged its end: Mesos
// lets a framework reuse the ID of a task that reached a terminal state,
// and forgets a task once its terminal update is acknowledged. A framework
// relaunches under the same ID a task the master dropped (its offer was
// rescinded while the ACCEPT was on its way), for one. It returns an
// AlreadyExists error when the Task is still the framework's (not ended,
// or its end not acknowledged), as Mesos refuses a duplicate ID then.
func (s *Server) replaceEnded(ctx context.Context, t *kmv1.Task) error {
	var old kmv1.Task
	if err := s.reader.Get(ctx, client.ObjectKeyFromObject(t), &old); apierrors.IsNotFound(err) {
		return s.schedulerClient.Create(ctx, t)
	} else if err != nil {
		return fmt.Errorf("reading Task %s/%s, whose name the launch takes: %w", t.Namespace, t.Name, err)
	}
	if slices.Equal(old.Spec.OfferIDs, t.Spec.OfferIDs) {
		// The same launch: an ACCEPT sent again after its answer was
		// lost, whose create had been stored.
		return nil
	}
	taken := apierrors.NewAlreadyExists(kmv1.GroupVersion.WithResource("tasks").GroupResource(), t.Name)
	if !endAcknowledged(&old) {
		return taken
	}
	pre := client.Preconditions{UID: &old.UID, ResourceVersion: &old.ResourceVersion}
	if err := s.schedulerClient.Delete(ctx, &old, pre); err != nil && !apierrors.IsNotFound(err) {
		if apierrors.IsConflict(err) {
			return taken // changed meanwhile: another launch took the name first
		}
		return fmt.Errorf("deleting the ended Task %s/%s to launch its task ID again: %w", old.Namespace, old.Name, err)
	}
	s.log.Info("a task ID was launched again after its task ended", "task", client.ObjectKeyFromObject(t),
		"taskID", t.Annotations[mesoswire.AnnotationTaskID], "ended", old.Status.State)
	return s.schedulerClient.Create(ctx, t)
}

// launch checks the tasks of one ACCEPT, each against the call's offers
// and the tasks before it.
type launch struct {
	s      *Server
	st     *stream
	offers []*kmv1.Offer
	// offerIDs are the names of the call's offers, sorted.
	offerIDs []string
	// seen are the task IDs of the call taken so far.
	seen  map[string]bool
	execs *executorCheck
	// ports is made when a task first asks for ports.
	ports *portLedger
	// used is what the tasks taken so far take themselves, and started
	// the resources of the custom executors they name, by executor ID
	// (charged to the offers unless the executor runs on the agent).
	used    corev1.ResourceList
	started map[string]corev1.ResourceList
}

// launchState is what a launch has taken, to be given back when a task
// group does not launch after all.
type launchState struct {
	seen  map[string]bool
	ports *portLedger
	used  corev1.ResourceList
	execs map[string]corev1.ResourceList
	// known and knownRead are the executor check's (executorCheck): a
	// group that does not launch leaves no executor standing for its ID.
	known     map[string]*kmv1.ExecutorInfo
	knownRead bool
}

// save records what l has taken.
func (l *launch) save() launchState {
	st := launchState{seen: maps.Clone(l.seen), used: l.used.DeepCopy(), execs: maps.Clone(l.started),
		known: maps.Clone(l.execs.known), knownRead: l.execs.read}
	if l.ports != nil {
		st.ports = l.ports.clone()
	}
	return st
}

// restore gives back what l took since st. Ports are read again when
// needed if the ledger was made after st.
func (l *launch) restore(st launchState) {
	l.seen, l.ports, l.used, l.started = st.seen, st.ports, st.used, st.execs
	l.execs.known, l.execs.read = st.known, st.knownRead
}

// executorRuns reports whether the framework's executor id ran a task on
// the offers' agent when one of the call's offers was made (the offer
// lists it in spec.executorIDs, as Mesos's Offer.executor_ids): the
// offers then do not hold its resources, and admission takes none for
// it from them.
func (l *launch) executorRuns(id string) bool {
	for _, o := range l.offers {
		if o.ListsExecutor(id) {
			return true
		}
	}
	return false
}

// task turns a TaskInfo into the Task that launches it, or says why it
// cannot (a TASK_ERROR); an error is the master's own.
func (l *launch) task(ctx context.Context, ti *mesosv1.TaskInfo) (*kmv1.Task, string, error) {
	t, msg := l.s.taskFor(l.st, ti, l.offers)
	if msg == "" && l.seen[ti.GetTaskId().GetValue()] {
		msg = "Task has duplicate ID: " + ti.GetTaskId().GetValue()
	}
	if msg != "" {
		return nil, msg, nil
	}
	if t.Spec.Executor != nil {
		msg, err := l.execs.compatible(ctx, t.Spec.Executor)
		if err != nil || msg != "" {
			return nil, msg, err
		}
	}
	if asksForPorts(ti) {
		if l.ports == nil {
			var err error
			if l.ports, err = l.s.portLedger(ctx, l.st, l.offers); err != nil {
				return nil, "", err
			}
		}
		if msg := l.ports.take(t, ti); msg != "" {
			return nil, msg, nil
		}
	}
	l.seen[ti.GetTaskId().GetValue()] = true
	l.used = resources.Add(l.used, t.Spec.Resources.Core())
	if e := t.Spec.Executor; e != nil {
		if l.started == nil {
			l.started = map[string]corev1.ResourceList{}
		}
		if _, ok := l.started[e.ExecutorID]; !ok {
			l.started[e.ExecutorID] = e.Resources.Core()
		}
	}
	return t, "", nil
}

// acceptedOffers reads the offers of an ACCEPT. It returns why they
// cannot be used, as Mesos words it, when one is gone, is another
// framework's, or they are on different agents.
func (s *Server) acceptedOffers(ctx context.Context, st *stream, ids []*mesosv1.OfferID) ([]*kmv1.Offer, string) {
	var offers []*kmv1.Offer
	var invalid string
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id.GetValue()] {
			if invalid == "" {
				invalid = "Duplicate offer " + id.GetValue() + " in offer list"
			}
			continue
		}
		seen[id.GetValue()] = true
		var o kmv1.Offer
		err := s.c.Get(ctx, types.NamespacedName{Namespace: st.namespace, Name: id.GetValue()}, &o)
		switch {
		case err != nil || o.DeletionTimestamp != nil:
			if invalid == "" {
				invalid = "Offer " + id.GetValue() + " is no longer valid"
			}
			continue
		case o.Spec.FrameworkID != st.frameworkID:
			if invalid == "" {
				invalid = "Offer " + id.GetValue() + " has invalid framework " + o.Spec.FrameworkID + " while framework " + st.frameworkID + " is expected"
			}
			continue
		case len(offers) > 0 && offers[0].Spec.AgentID != o.Spec.AgentID:
			if invalid == "" {
				invalid = "Aggregated offers must belong to one single agent. Offer " + id.GetValue() + " uses agent " + o.Spec.AgentID + " and offer " + offers[0].Name + " uses agent " + offers[0].Spec.AgentID
			}
		}
		offers = append(offers, &o)
	}
	if len(ids) == 0 {
		invalid = "No offers specified"
	}
	return offers, invalid
}

// lost answers a task launched on offers that cannot be used:
// TASK_DROPPED for a partition-aware framework, else TASK_LOST. A task that
// a launch on the same offers created already gets no answer: the call is
// an ACCEPT sent again after its answer was lost, and the task's own
// updates follow.
func (l *launch) lost(ctx context.Context, ti *mesosv1.TaskInfo, why string) {
	var t kmv1.Task
	key := types.NamespacedName{Namespace: l.st.namespace, Name: mesoswire.TaskName(l.st.frameworkID, ti.GetTaskId().GetValue())}
	if err := l.s.reader.Get(ctx, key, &t); err == nil && slices.Equal(t.Spec.OfferIDs, l.offerIDs) {
		return
	}
	state := mesosv1.TaskState_TASK_LOST
	if hasCapability(l.st.frameworkInfo(), mesosv1.FrameworkInfo_Capability_PARTITION_AWARE) {
		state = mesosv1.TaskState_TASK_DROPPED
	}
	l.st.sendWait(ctx, l.s.masterUpdate(ti, state, mesosv1.TaskStatus_REASON_INVALID_OFFERS, "Task launched with invalid offers: "+why))
}

// offerNames are the names of the Offers that ids name, sorted, as a
// Task's spec.offerIDs lists them.
func offerNames(ids []*mesosv1.OfferID) []string {
	names := make([]string, 0, len(ids))
	for _, id := range ids {
		names = append(names, id.GetValue())
	}
	slices.Sort(names)
	return names
}

// taskFor turns a TaskInfo into the Task that launches it, or says why
// it cannot.
func (s *Server) taskFor(st *stream, ti *mesosv1.TaskInfo, offers []*kmv1.Offer) (*kmv1.Task, string) {
	id := ti.GetTaskId().GetValue()
	agent := offers[0]
	switch {
	case id == "":
		return nil, "Task ID must not be empty"
	case mesoswire.ValidateID(id) != "":
		return nil, mesoswire.ValidateID(id)
	case ti.GetAgentId().GetValue() != agent.Spec.AgentID:
		return nil, "Task uses invalid agent: " + ti.GetAgentId().GetValue() + " while agent " + agent.Spec.AgentID + " is expected"
	case (ti.Executor == nil) == (ti.Command == nil):
		return nil, "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
	}
	res, msg := resourcesFor(ti.GetResources(), "the task")
	if msg != "" {
		return nil, msg
	}
	var cmd *kmv1.CommandInfo
	var exec *kmv1.ExecutorInfo
	if ti.Executor != nil {
		exec, msg = executorFor(ti.GetExecutor(), st.frameworkID, s.opts.CommandImage)
	} else {
		cmd, msg = commandFor(ti, s.opts.CommandImage)
	}
	if msg != "" {
		return nil, msg
	}
	names := make([]string, 0, len(offers))
	for _, o := range offers {
		names = append(names, o.Name)
	}
	sort.Strings(names)
	t := &kmv1.Task{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: st.namespace, Name: mesoswire.TaskName(st.frameworkID, id),
			Labels:          map[string]string{kmv1.LabelFramework: st.name, kmv1.LabelAgent: agent.Spec.NodeName},
			Annotations:     map[string]string{mesoswire.AnnotationTaskID: id},
			OwnerReferences: []metav1.OwnerReference{kmv1.FrameworkOwner(st.name, types.UID(st.frameworkID))},
		},
		Spec: kmv1.TaskSpec{Framework: kmv1.ObjectName(st.name), OfferIDs: names, AgentID: agent.Spec.AgentID, Resources: res, Command: cmd, Executor: exec},
	}
	t.Spec.Data = mesoswire.SpecData(ti.GetData())
	if gp := ti.GetKillPolicy().GetGracePeriod(); gp != nil {
		secs := int64(math.Ceil(float64(max(gp.GetNanoseconds(), 0)) / 1e9))
		t.Spec.KillGracePeriodSeconds = &secs
	}
	if ls := ti.GetLabels().GetLabels(); len(ls) > 0 {
		kept, err := mesoswire.TaskLabelsAnnotation(ls)
		if err != nil {
			return nil, err.Error()
		}
		t.Annotations[mesoswire.AnnotationTaskLabels] = kept
	}
	if exec != nil {
		if msg := keepForExecutor(t, ti); msg != "" {
			return nil, msg
		}
	}
	return t, ""
}

// keepForExecutor keeps on t, a task of a custom executor launched as ti,
// what its executor reads of ti and a Task has no field for
// (mesoswire.AnnotationExecutorTask), or says why it cannot.
func keepForExecutor(t *kmv1.Task, ti *mesosv1.TaskInfo) string {
	kept, err := mesoswire.ExecutorTaskAnnotation(ti)
	if err != nil {
		return err.Error()
	}
	if kept != "" {
		t.Annotations[mesoswire.AnnotationExecutorTask] = kept
	}
	return ""
}

// commandFor is the command of a TaskInfo: a shell command runs as
// /bin/sh -c value; otherwise value is the executable and arguments its
// arguments (Mesos passes arguments[0] as argv[0]; a container takes
// the rest as its arguments). The image is the container's, else
// defaultImage, else DefaultCommandImage.
func commandFor(ti *mesosv1.TaskInfo, defaultImage string) (*kmv1.CommandInfo, string) {
	return commandOf(ti.GetCommand(), ti.GetContainer(), defaultImage)
}

// imageOf is the image of a container: its Mesos image's Docker name,
// else its Docker image, else defaultImage, else DefaultCommandImage.
func imageOf(ci *mesosv1.ContainerInfo, defaultImage string) string {
	for _, img := range []string{ci.GetMesos().GetImage().GetDocker().GetName(), ci.GetDocker().GetImage(), defaultImage} {
		if img != "" {
			return img
		}
	}
	return DefaultCommandImage
}

// resourcesFor maps Mesos resources onto a ResourceList, or says why it
// cannot; who names what asks for them in the message. The ranges of
// `ports` are checked as Mesos checks a resource's (portLedger.take
// checks that the offers carry them).
func resourcesFor(rs []*mesosv1.Resource, who string) (kmv1.ResourceList, string) {
	res, unknown := mesoswire.KubernetesResources(rs)
	if len(unknown) > 0 {
		return nil, "kubemesos offers only cpus, mem, disk, gpus and ports; " + who + " asks for " + strings.Join(unknown, ", ")
	}
	for _, r := range rs {
		if r.GetName() == mesoswire.ResourcePorts {
			if r.GetType() != mesosv1.Value_RANGES {
				return nil, "Resource ports must be ranges"
			}
			if err := portrange.Check(mesoswire.RangesOf(r)); err != nil {
				return nil, "Invalid resources: Invalid ranges resource: " + err.Error()
			}
			continue
		}
		if v := r.GetScalar().GetValue(); r.GetType() != mesosv1.Value_SCALAR || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return nil, "Resource " + r.GetName() + " must be a non-negative scalar"
		}
	}
	return res, ""
}

// asksForPorts reports whether a TaskInfo or its ExecutorInfo names ports.
func asksForPorts(ti *mesosv1.TaskInfo) bool {
	return len(mesoswire.PortsOf(ti.GetResources())) > 0 || len(mesoswire.PortsOf(ti.GetExecutor().GetResources())) > 0
}

// portLedger holds, for one ACCEPT, the ports that its tasks may take:
// those its offers carry that no earlier task of the call took, and the
// ports of the framework's executors on the agent, which later tasks of
// such an executor hold again without taking them from offers (Mesos
// charges an executor's resources to the task that starts it).
type portLedger struct {
	available portrange.Set
	executors map[string]portrange.Set
}

// clone is a copy of l that takes nothing from l.
func (l *portLedger) clone() *portLedger {
	c := &portLedger{available: slices.Clone(l.available), executors: make(map[string]portrange.Set, len(l.executors))}
	for k, v := range l.executors {
		c.executors[k] = slices.Clone(v)
	}
	return c
}

// portLedger reads the ports that the offers of an ACCEPT carry (see
// offerPorts) and those that the framework's executors hold on their
// agent.
func (s *Server) portLedger(ctx context.Context, st *stream, offers []*kmv1.Offer) (*portLedger, error) {
	l := &portLedger{executors: map[string]portrange.Set{}}
	if len(offers) == 0 {
		return l, nil
	}
	var agent kmv1.Agent
	if err := s.c.Get(ctx, types.NamespacedName{Name: offers[0].Spec.NodeName}, &agent); apierrors.IsNotFound(err) {
		return l, nil
	} else if err != nil {
		return nil, fmt.Errorf("reading Agent %s: %w", offers[0].Spec.NodeName, err)
	}
	for _, o := range offers {
		p, err := s.offerPorts(ctx, &agent, o)
		if err != nil {
			return nil, err
		}
		l.available = l.available.Union(p)
	}
	var tasks kmv1.TaskList
	if err := s.c.List(ctx, &tasks, client.MatchingFields{controllers.IndexTaskAgentID: offers[0].Spec.AgentID}); err != nil {
		return nil, fmt.Errorf("listing the tasks of agent %s: %w", agent.Name, err)
	}
	for i := range tasks.Items {
		t := &tasks.Items[i]
		if t.Namespace == st.namespace && string(t.Spec.Framework) == st.name && t.Spec.Executor != nil && !t.Status.State.IsTerminal() {
			id := t.Spec.Executor.ExecutorID
			l.executors[id] = l.executors[id].Union(portrange.FromAPI(t.Spec.Ports))
		}
	}
	return l, nil
}

// take gives Task t, made of ti, the ports that ti and its executor ask
// for, or says why they cannot have them, as Mesos words it: the task's
// and a new executor's ports must be among those available, and the
// task's must not overlap its executor's.
func (l *portLedger) take(t *kmv1.Task, ti *mesosv1.TaskInfo) string {
	own, exec := mesoswire.PortsOf(ti.GetResources()), mesoswire.PortsOf(ti.GetExecutor().GetResources())
	if own.Overlaps(exec) {
		return "There are overlapping resources in the task resources " + mesoswire.ResourcePorts + ":" + own.String() +
			" and executor resources " + mesoswire.ResourcePorts + ":" + exec.String()
	}
	need := own
	var execID string
	if t.Spec.Executor != nil && len(exec) > 0 {
		execID = t.Spec.Executor.ExecutorID
		if have, ok := l.executors[execID]; !ok || !have.Contains(exec) {
			need = need.Union(exec)
		}
	}
	if !l.available.Contains(need) {
		return "Total resources " + mesoswire.ResourcePorts + ":" + need.String() + " required by task and its executor is more than available " +
			mesoswire.ResourcePorts + ":" + l.available.String()
	}
	l.available = l.available.Minus(need)
	if execID != "" {
		l.executors[execID] = l.executors[execID].Union(exec)
	}
	t.Spec.Ports = own.Union(exec).API()
	return ""
}

// commandOf maps a CommandInfo run in a container (see commandFor).
func commandOf(c *mesosv1.CommandInfo, ci *mesosv1.ContainerInfo, defaultImage string) (*kmv1.CommandInfo, string) {
	out := &kmv1.CommandInfo{Image: imageOf(ci, defaultImage)}
	if c.GetShell() {
		if c.GetValue() == "" {
			return nil, "CommandInfo.value must be set for a shell command"
		}
		out.Command = []string{"/bin/sh", "-c", c.GetValue()}
	} else {
		if c.GetValue() != "" {
			out.Command = []string{c.GetValue()}
		}
		if args := c.GetArguments(); len(args) > 1 {
			out.Args = append([]string(nil), args[1:]...)
		}
	}
	for _, v := range c.GetEnvironment().GetVariables() {
		if v.GetType() == mesosv1.Environment_Variable_SECRET {
			return nil, "kubemesos does not support secret environment variables through the Mesos API yet (" + v.GetName() + ")"
		}
		if !envNameRE.MatchString(v.GetName()) {
			return nil, "Environment variable name '" + v.GetName() + "' is not valid"
		}
		out.Env = append(out.Env, kmv1.EnvVar{Name: v.GetName(), Value: v.GetValue()})
	}
	// The Mesos fetcher's work: the URIs fetched into the sandbox first.
	fetch, msg := fetchPrologue(c.GetUris())
	if msg != "" {
		return nil, msg
	}
	if fetch != "" {
		if len(out.Command) == 0 {
			return nil, "CommandInfo.value must be set for a command with URIs to fetch"
		}
		out.Command, out.Args = withPrologue(fetch, out.Command, out.Args)
	}
	return out, ""
}

// hasCapability reports whether a FrameworkInfo declares a capability.
func hasCapability(info *mesosv1.FrameworkInfo, c mesosv1.FrameworkInfo_Capability_Type) bool {
	for _, have := range info.GetCapabilities() {
		if have.GetType() == c {
			return true
		}
	}
	return false
}

// masterUpdate is an UPDATE the master sends for a task it never
// launched: no uuid, so nothing to acknowledge, as in Mesos.
func (s *Server) masterUpdate(ti *mesosv1.TaskInfo, state mesosv1.TaskState, reason mesosv1.TaskStatus_Reason, msg string) *schedulerv1.Event {
	// A caller's invalid ID (or a message that quotes it) is repeated cut
	// short: a stream's queue holds events by the thousand.
	id := clip(ti.GetTaskId().GetValue(), maxEchoedID)
	msg = clip(msg, maxEchoedMessage)
	status := &mesosv1.TaskStatus{
		TaskId: &mesosv1.TaskID{Value: &id}, State: state.Enum(), Source: mesosv1.TaskStatus_SOURCE_MASTER.Enum(), Reason: reason.Enum(),
		Message: &msg, AgentId: ti.GetAgentId(), Timestamp: ptr.To(float64(s.clock.Now().UnixNano()) / 1e9),
	}
	return &schedulerv1.Event{Type: schedulerv1.Event_UPDATE.Enum(), Update: &schedulerv1.Event_Update{Status: status}}
}

// The most of a task ID and of a message that an event of the master's
// repeats: a valid ID has at most 255 characters.
const (
	maxEchoedID      = 255
	maxEchoedMessage = 1024
)

// clip cuts s to at most n bytes, at a UTF-8 boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
