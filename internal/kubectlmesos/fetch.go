package kubectlmesos

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// hint turns an API error about kind in ns into one that says what to do.
func hint(err error, verb, kind, name, ns string) error {
	where := ""
	if ns != "" {
		where = " in namespace " + ns
	}
	plural := strings.ToLower(kind) + "s"
	nsFlag := ""
	if ns != "" {
		nsFlag = " -n " + ns
	}
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s %s not found%s; list them with kubectl get %s%s", strings.ToLower(kind), name, where, plural, nsFlag)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("you may not %s %s%s: ask your cluster admin for that right (check with kubectl auth can-i %s %s%s): %w", verb, plural, where, verb, plural, nsFlag, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("the API server does not accept your credentials: check your kubeconfig (--kubeconfig, --context): %w", err)
	}
	if name != "" {
		return fmt.Errorf("%s %s %s%s: %w", verb, strings.ToLower(kind), name, where, err)
	}
	return fmt.Errorf("%s %s%s: %w", verb, plural, where, err)
}

// listVisible lists into list in every namespace, or in ns when that is
// forbidden; hidden then says so.
func listVisible(ctx context.Context, c client.Client, list client.ObjectList, kind, ns string, all bool, opts ...client.ListOption) (hidden string, err error) {
	if all {
		err := c.List(ctx, list, opts...)
		if err == nil {
			return "", nil
		}
		if !apierrors.IsForbidden(err) {
			return "", hint(err, "list", kind, "", "")
		}
		hidden = fmt.Sprintf("listing %ss in all namespaces is forbidden to you, so only namespace %s is shown", strings.ToLower(kind), ns)
	}
	if err := c.List(ctx, list, append(opts, client.InNamespace(ns))...); err != nil {
		return "", hint(err, "list", kind, "", ns)
	}
	return hidden, nil
}

// listAgents lists the Agents; hidden says why not when forbidden.
func listAgents(ctx context.Context, c client.Client) ([]kmv1.Agent, string, error) {
	var agents kmv1.AgentList
	if err := c.List(ctx, &agents); err != nil {
		if apierrors.IsForbidden(err) {
			return nil, "listing agents (cluster-scoped) is forbidden to you", nil
		}
		return nil, "", hint(err, "list", "Agent", "", "")
	}
	return agents.Items, "", nil
}

// weights returns the role weights: --role-weights, else those the master's
// pods run with; known is false when neither could be read.
func (p *plugin) weights(ctx context.Context, c client.Client) (map[string]float64, bool, error) {
	if p.roleWeights != "" {
		w, err := ParseRoleWeights(p.roleWeights)
		if err != nil {
			return nil, false, fmt.Errorf("--role-weights: %w", err)
		}
		return w, true, nil
	}
	var pods corev1.PodList
	ns := cmp.Or(p.masterNamespace, DefaultMasterNamespace)
	if err := c.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{kmv1.LabelComponent: "master"}); err != nil || len(pods.Items) == 0 {
		return map[string]float64{}, false, nil
	}
	w, ok := weightsFromPod(&pods.Items[0])
	return w, ok, nil
}

// weightsFromPod reads --role-weights from the master container's
// arguments; none means every weight is 1.
func weightsFromPod(pod *corev1.Pod) (map[string]float64, bool) {
	for _, ctr := range pod.Spec.Containers {
		args := slices.Concat(ctr.Command, ctr.Args)
		for i, a := range args {
			v, ok := strings.CutPrefix(a, "--role-weights=")
			if !ok && a == "--role-weights" && i+1 < len(args) {
				v, ok = args[i+1], true
			}
			if ok {
				w, err := ParseRoleWeights(v)
				if err != nil {
					return map[string]float64{}, false
				}
				return w, true
			}
		}
	}
	return map[string]float64{}, true
}

// clusterFacts gathers the agents, the frameworks and the weights. The
// frameworks are those of every namespace (strict: the user asked for -A,
// so a refusal is an error) or, when that is forbidden and not strict, of
// ns with a note; or of ns alone when !all.
func (p *plugin) clusterFacts(ctx context.Context, c client.Client, ns string, all, strict bool) (ClusterFacts, error) {
	var f ClusterFacts
	var err error
	if f.Agents, f.AgentsHidden, err = listAgents(ctx, c); err != nil {
		return f, err
	}
	var fws kmv1.FrameworkList
	if strict {
		if err := c.List(ctx, &fws); err != nil {
			return f, hint(err, "list", "Framework", "", "")
		}
	} else if f.FrameworksHidden, err = listVisible(ctx, c, &fws, "Framework", ns, all); err != nil {
		return f, err
	}
	f.Frameworks = fws.Items
	if f.Weights, f.WeightsKnown, err = p.weights(ctx, c); err != nil {
		return f, err
	}
	return f, nil
}

func (p *plugin) listOffers(ctx context.Context, c client.Client, ns string) ([]kmv1.Offer, error) {
	var offers kmv1.OfferList
	if p.allNamespaces {
		if err := c.List(ctx, &offers); err != nil {
			return nil, hint(err, "list", "Offer", "", "")
		}
		return offers.Items, nil
	}
	if err := c.List(ctx, &offers, client.InNamespace(ns)); err != nil {
		return nil, hint(err, "list", "Offer", "", ns)
	}
	return offers.Items, nil
}

// parseRef splits "framework/web" or "task/t1" (or their plural and short
// names); a bare name has kind "".
func parseRef(arg string) (kind, name string, err error) {
	k, n, ok := strings.Cut(arg, "/")
	if !ok {
		return "", arg, nil
	}
	switch strings.ToLower(k) {
	case "framework", "frameworks", "mfw", "frameworks.kubemesos.io":
		return "Framework", n, nil
	case "task", "tasks", "mtask", "tasks.kubemesos.io":
		return "Task", n, nil
	}
	return "", "", fmt.Errorf("%q: want a framework or a task, as NAME, framework/NAME or task/NAME", arg)
}

// explain finds what arg names and explains it.
func (p *plugin) explain(ctx context.Context, c client.Client, ns, arg string) (Explanation, error) {
	kind, name, err := parseRef(arg)
	if err != nil {
		return Explanation{}, err
	}
	if kind != "Task" {
		var fw kmv1.Framework
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &fw)
		switch {
		case err == nil:
			return p.explainFramework(ctx, c, &fw)
		case kind == "Framework" || !apierrors.IsNotFound(err):
			return Explanation{}, hint(err, "get", "Framework", name, ns)
		}
	}
	var t kmv1.Task
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &t); err != nil {
		if kind == "" && apierrors.IsNotFound(err) {
			return Explanation{}, fmt.Errorf("no framework or task named %s in namespace %s; list them with kubectl get mfw,mtask -n %s", name, ns, ns)
		}
		return Explanation{}, hint(err, "get", "Task", name, ns)
	}
	return p.explainTask(ctx, c, &t)
}

func (p *plugin) explainFramework(ctx context.Context, c client.Client, fw *kmv1.Framework) (Explanation, error) {
	f := FrameworkFacts{Framework: fw, Now: p.opts.Now()}
	var err error
	var fws kmv1.FrameworkList
	if f.FrameworksHidden, err = listVisible(ctx, c, &fws, "Framework", fw.Namespace, true); err != nil {
		return Explanation{}, err
	}
	f.Frameworks = fws.Items
	var offers kmv1.OfferList
	if err := c.List(ctx, &offers, client.InNamespace(fw.Namespace), client.MatchingLabels{kmv1.LabelFramework: fw.Name}); err != nil {
		return Explanation{}, hint(err, "list", "Offer", "", fw.Namespace)
	}
	for _, o := range offers.Items {
		if string(o.Spec.Framework) == fw.Name {
			f.Offers = append(f.Offers, o)
		}
	}
	if f.Agents, f.AgentsHidden, err = listAgents(ctx, c); err != nil {
		return Explanation{}, err
	}
	var tasks kmv1.TaskList
	if err := c.List(ctx, &tasks, client.InNamespace(fw.Namespace), client.MatchingLabels{kmv1.LabelFramework: fw.Name}); err != nil {
		return Explanation{}, hint(err, "list", "Task", "", fw.Namespace)
	}
	for i := range tasks.Items {
		t := &tasks.Items[i]
		if string(t.Spec.Framework) != fw.Name {
			continue
		}
		if f.LastTask == nil || t.CreationTimestamp.After(f.LastTask.CreationTimestamp.Time) ||
			t.CreationTimestamp.Equal(&f.LastTask.CreationTimestamp) && t.Name > f.LastTask.Name {
			f.LastTask = t
		}
	}
	if f.Weights, f.WeightsKnown, err = p.weights(ctx, c); err != nil {
		return Explanation{}, err
	}
	if _, done := frameworkDone(fw, f.Now); !done {
		f.Filters, f.FiltersHidden = p.declineFilters(ctx, fw)
	}
	return ExplainFramework(f), nil
}

// findPod returns the task's executor pod: status.podName, else the pod the
// agent labelled for it; nil when there is none.
func findPod(ctx context.Context, c client.Client, t *kmv1.Task) (*corev1.Pod, error) {
	if t.Status.PodName != "" {
		var pod corev1.Pod
		err := c.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: t.Status.PodName}, &pod)
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return &pod, nil
	}
	if t.Status.State == "" {
		return nil, nil
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(t.Namespace), client.MatchingLabels{kmv1.LabelFramework: string(t.Spec.Framework), kmv1.LabelComponent: "executor"}); err != nil {
		return nil, err
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if t.Spec.Executor == nil && pod.Labels[kmv1.LabelTask] == t.Name && pod.Labels[kmv1.LabelExecutor] == "" {
			return pod, nil
		}
		if t.Spec.Executor != nil && pod.Annotations[kmv1.AnnotationExecutorID] == t.Spec.Executor.ExecutorID &&
			pod.Annotations[kmv1.AnnotationAgentID] == t.PlacedOn() {
			return pod, nil
		}
	}
	return nil, nil
}

func (p *plugin) explainTask(ctx context.Context, c client.Client, t *kmv1.Task) (Explanation, error) {
	f := TaskFacts{Task: t, Now: p.opts.Now()}
	var fw kmv1.Framework
	switch err := c.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: string(t.Spec.Framework)}, &fw); {
	case err == nil:
		f.Framework = &fw
	case !apierrors.IsNotFound(err):
		return Explanation{}, hint(err, "get", "Framework", string(t.Spec.Framework), t.Namespace)
	}
	if t.Status.State == "" {
		for _, id := range t.Spec.OfferIDs {
			var o kmv1.Offer
			if err := c.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: id}, &o); apierrors.IsNotFound(err) {
				f.MissingOffers = append(f.MissingOffers, id)
			} else if err != nil {
				return Explanation{}, hint(err, "get", "Offer", id, t.Namespace)
			}
		}
	}
	if t.Status.State != "" && !t.Status.State.IsTerminal() {
		agents, hidden, err := listAgents(ctx, c)
		if err != nil {
			return Explanation{}, err
		}
		f.AgentHidden = hidden
		for i := range agents {
			if a := &agents[i]; a.Name == t.Status.NodeName || t.Status.NodeName == "" && a.Status.AgentID == t.PlacedOn() {
				f.Agent = a
			}
		}
		pod, err := findPod(ctx, c, t)
		switch {
		case apierrors.IsForbidden(err):
			f.PodHidden = "reading pods in namespace " + t.Namespace + " is forbidden to you"
		case err != nil:
			return Explanation{}, hint(err, "get", "Pod", t.Status.PodName, t.Namespace)
		}
		f.Pod = pod
		if pod != nil {
			var evs corev1.EventList
			if err := c.List(ctx, &evs, client.InNamespace(t.Namespace), client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("involvedObject.name", pod.Name)}); err == nil {
				f.Events = evs.Items
			}
		}
	}
	return ExplainTask(f), nil
}

// killTask sets spec.kill with a merge patch, as the scheduler SDK does.
func killTask(ctx context.Context, c client.Client, ns, name string) (string, error) {
	var t kmv1.Task
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &t); err != nil {
		return "", hint(err, "get", "Task", name, ns)
	}
	if t.Status.State.IsTerminal() {
		return "", fmt.Errorf("task %s already ended (%s): there is nothing to kill; see why with kubectl mesos why task/%s -n %s", name, t.Status.State, name, ns)
	}
	if t.Spec.Kill {
		return fmt.Sprintf("task %s/%s: a kill was already asked (spec.kill is true); it is %s", ns, name, cmp.Or(string(t.Status.State), "not admitted yet")), nil
	}
	killed := t.DeepCopy()
	killed.Spec.Kill = true
	if err := c.Patch(ctx, killed, client.MergeFrom(&t)); err != nil {
		return "", hint(err, "patch", "Task", name, ns)
	}
	return fmt.Sprintf("task %s/%s: kill asked (spec.kill set to true); its agent kills it and reports TASK_KILLED. Follow it with kubectl get mtask %s -n %s -w", ns, name, name, ns), nil
}

// streamLogs copies the logs of the task's pod to w.
func streamLogs(ctx context.Context, c client.Client, cs kubernetes.Interface, ns, name, container string, follow bool, w io.Writer) error {
	var t kmv1.Task
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &t); err != nil {
		return hint(err, "get", "Task", name, ns)
	}
	pod, err := findPod(ctx, c, &t)
	if err != nil {
		return hint(err, "get", "Pod", t.Status.PodName, ns)
	}
	if pod == nil {
		return fmt.Errorf("task %s has no pod (it is %s): see why with kubectl mesos why task/%s -n %s", name, cmp.Or(string(t.Status.State), "not admitted"), name, ns)
	}
	if container == "" {
		container = "task"
		if t.Spec.Executor != nil {
			container = "executor"
		}
		if len(pod.Spec.Containers) == 1 {
			container = pod.Spec.Containers[0].Name
		}
	}
	rc, err := cs.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{Container: container, Follow: follow}).Stream(ctx)
	if err != nil {
		return hint(err, "get", "Pod", pod.Name+" (pods/log)", ns)
	}
	defer func() { _ = rc.Close() }()
	if _, err := io.Copy(w, rc); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("reading the logs of pod %s: %w", pod.Name, err)
	}
	return nil
}

// completeNames lists the names of list's items in the namespace for
// shell completion; errors complete nothing.
func (p *plugin) completeNames(list client.ObjectList, names func() []string, prefix string) []string {
	ctx, c, ns, err := p.setup()
	if err != nil {
		return nil
	}
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil
	}
	var out []string
	for _, n := range names() {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func (p *plugin) taskNames(prefix string) []string {
	var tasks kmv1.TaskList
	return p.completeNames(&tasks, func() []string {
		var out []string
		for _, t := range tasks.Items {
			out = append(out, t.Name)
		}
		return out
	}, prefix)
}

func (p *plugin) completeTasks(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return p.taskNames(toComplete), cobra.ShellCompDirectiveNoFileComp
}

func (p *plugin) completeFrameworksAndTasks(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var fws kmv1.FrameworkList
	out := p.completeNames(&fws, func() []string {
		var out []string
		for _, f := range fws.Items {
			out = append(out, f.Name)
		}
		return out
	}, toComplete)
	return append(out, p.taskNames(toComplete)...), cobra.ShellCompDirectiveNoFileComp
}
