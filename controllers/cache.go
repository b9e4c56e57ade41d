package controllers

import (
	"reflect"
	"sort"
	"strings"
	"sync"
	"unique"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// CacheOptions is what the master's informers hold: only kubemesos pods
// and Leases (other pods and node Leases would be steady churn for
// nothing), every object without its managed fields, and Tasks slimmed to
// what the master reads (StripTaskPayloads). The production master and the
// tests' in-process masters both use it.
func CacheOptions() cache.Options {
	return cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}:           {Label: labelExists(kmv1.LabelFramework)},
			&coordinationv1.Lease{}: {Label: labelExists(kmv1.LabelLease)},
			&kmv1.Task{}:            {Transform: StripTaskPayloads},
		},
	}
}

func labelExists(key string) labels.Selector {
	req, err := labels.NewRequirement(key, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant key
	}
	return labels.NewSelector().Add(*req)
}

// StripTaskPayloads slims a Task for the master's cache, which holds every
// Task of the cluster. It leaves out what the master never reads and what a
// tenant can make large: spec.data and status.data (up to 64 KiB each), the
// command or executor's command line and environment, the managed fields,
// the labels, the annotations (kubectl's last-applied configuration would
// be a second copy of the whole Task) but the launch's size
// (kmv1.AnnotationLaunchTasks, which admission reads) and the owner
// references. It keeps
// whether a task is a command or an executor, and the executor's ID. The
// strings that many Tasks repeat are shared (internString).
//
// The two ResourceLists (spec.resources and spec.executor.resources) are
// read: admission checks them, and the scheduling cache turns them into its
// vectors. They are interned instead: every cached Task that asks for the
// same amounts shares one read-only map, since most tasks of a framework
// ask for the same few, and a map of Quantities costs about 0.6 KB a Task.
// So is the slim executor: the tasks of one executor share it, and every
// command task shares one empty command.
//
// Cached objects are read only, so the sharing is safe; a reader that
// wants to change a Task must copy it first (client reads from the cache
// copy by default). The master writes Tasks only with patches of what it
// changes, so nothing left out here is ever written back.
func StripTaskPayloads(obj any) (any, error) {
	t, ok := obj.(*kmv1.Task)
	if !ok {
		return obj, nil
	}
	t.ManagedFields = nil
	// A task group's label stays: the leader kills a group's other tasks
	// when one ends (mesosapi), whose framework may not be subscribed.
	if g, ok := t.Labels[mesoswire.LabelTaskGroup]; ok {
		t.Labels = map[string]string{mesoswire.LabelTaskGroup: g}
	} else {
		t.Labels = nil
	}
	t.Annotations = launchAnnotations(t.Annotations)
	t.OwnerReferences = nil
	t.Spec.Data = ""
	t.Status.Data = ""
	t.Spec.Resources = taskResources.intern(t.Spec.Resources)
	if t.Spec.Command != nil {
		t.Spec.Command = emptyCommand
	}
	if e := t.Spec.Executor; e != nil {
		t.Spec.Executor = taskResources.executor(e.ExecutorID, taskResources.intern(e.Resources))
	}
	// The strings that many Tasks repeat (their namespace, framework,
	// state, agent, node, executor and pod) are decoded anew for each;
	// share one copy of each.
	t.Namespace = internString(t.Namespace)
	t.Spec.Framework = kmv1.ObjectName(internString(string(t.Spec.Framework)))
	t.Spec.AgentID = internString(t.Spec.AgentID)
	st := &t.Status
	st.State = kmv1.TaskState(internString(string(st.State)))
	st.Reason = kmv1.TaskReason(internString(string(st.Reason)))
	st.Source = kmv1.TaskSource(internString(string(st.Source)))
	st.AgentID = internString(st.AgentID)
	st.NodeName = internString(st.NodeName)
	st.ExecutorID = internString(st.ExecutorID)
	st.PodName = internString(st.PodName)
	return t, nil
}

// internString returns the one shared copy of s (unique.Make: its table
// forgets a string once no copy of it is left).
func internString(s string) string {
	if s == "" {
		return s
	}
	return unique.Make(s).Value()
}

// launchSizes holds the one shared, read-only annotation map of each
// launch size (at most kmv1.MaxLaunchTasks of them).
var launchSizes sync.Map

// launchAnnotations returns the cached Task's annotations for its launch
// size (kmv1.LaunchTasks): a map shared by every Task of that size, or nil.
func launchAnnotations(annotations map[string]string) map[string]string {
	v := kmv1.LaunchTasks(annotations)
	if v == 0 {
		return nil
	}
	m, _ := launchSizes.LoadOrStore(v, kmv1.SetLaunchTasks(nil, v))
	return m.(map[string]string)
}

// emptyCommand is the command of every cached command task: read only,
// shared.
var emptyCommand = &kmv1.CommandInfo{}

// internLimit bounds the distinct ResourceLists the intern table holds.
// Past it the table starts afresh: the Tasks already cached keep the maps
// they share, and a cluster with more distinct amounts than this only
// shares less.
const internLimit = 4096

// taskResources is the master's one intern table of Task ResourceLists
// and executors.
var taskResources = &internTable{lists: map[string]kmv1.ResourceList{}, executors: map[executorKey]*kmv1.ExecutorInfo{}}

// internTable hands out one shared, read-only ResourceList per distinct
// list of amounts, and one cached ExecutorInfo per executor ID and
// resources: the tasks of a custom executor share it.
type internTable struct {
	mu        sync.Mutex
	lists     map[string]kmv1.ResourceList
	executors map[executorKey]*kmv1.ExecutorInfo
}

// executorKey names a slim ExecutorInfo: its ID and its interned
// resources' map.
type executorKey struct {
	id        string
	resources uintptr
}

// executor returns the shared ExecutorInfo with only id and resources (an
// interned list) set.
func (it *internTable) executor(id string, resources kmv1.ResourceList) *kmv1.ExecutorInfo {
	key := executorKey{id: id, resources: reflect.ValueOf(resources).Pointer()}
	it.mu.Lock()
	defer it.mu.Unlock()
	if e, ok := it.executors[key]; ok && sameList(e.Resources, resources) {
		return e
	}
	if len(it.executors) >= internLimit {
		it.executors = map[executorKey]*kmv1.ExecutorInfo{}
	}
	e := &kmv1.ExecutorInfo{ExecutorID: internString(id), Resources: resources}
	it.executors[key] = e
	return e
}

// sameList reports whether a and b are the same map (or both nil).
func sameList(a, b kmv1.ResourceList) bool {
	return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer()
}

// intern returns the shared list equal to rl (same names, and quantities
// with the same canonical form), recording rl as the shared one if it is
// the first of its kind. An empty list stays as it is.
func (it *internTable) intern(rl kmv1.ResourceList) kmv1.ResourceList {
	if len(rl) == 0 {
		return rl
	}
	key := internKey(rl)
	it.mu.Lock()
	defer it.mu.Unlock()
	if shared, ok := it.lists[key]; ok {
		return shared
	}
	if len(it.lists) >= internLimit {
		it.lists = map[string]kmv1.ResourceList{}
	}
	it.lists[key] = rl
	return rl
}

// internKey is rl's amounts, sorted by name, in canonical form:
// "cpu=500m,memory=128Mi".
func internKey(rl kmv1.ResourceList) string {
	names := make([]string, 0, len(rl))
	for n := range rl {
		names = append(names, string(n))
	}
	sort.Strings(names)
	var sb strings.Builder
	for i, n := range names {
		if i > 0 {
			sb.WriteByte(',')
		}
		q := rl[corev1.ResourceName(n)]
		sb.WriteString(n)
		sb.WriteByte('=')
		sb.WriteString(q.String())
	}
	return sb.String()
}
