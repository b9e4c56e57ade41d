package kubectlmesos

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kubemesos/kubemesos/controllers/allocator"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// FrameworkFacts is what `why FRAMEWORK` knows: the objects that the user
// may read, and what the user may not.
type FrameworkFacts struct {
	// Framework is the framework explained.
	Framework *kmv1.Framework
	// Frameworks are every framework visible to the user, it included.
	Frameworks []kmv1.Framework
	// FrameworksHidden is set when frameworks of other namespaces could
	// not be listed; it says why.
	FrameworksHidden string
	// Offers are the framework's outstanding offers.
	Offers []kmv1.Offer
	// Agents are every Agent.
	Agents []kmv1.Agent
	// AgentsHidden is set when the Agents could not be listed; it says why.
	AgentsHidden string
	// LastTask is the framework's most recently created task, nil when it
	// has none (or none visible).
	LastTask *kmv1.Task
	// Weights are the role weights; WeightsKnown says whether they are the
	// master's.
	Weights map[string]float64
	// WeightsKnown is true when Weights are the master's.
	WeightsKnown bool
	// Filters are the framework's decline filters as the leading master
	// holds them in memory, read from its console; those ended by Now are
	// ignored. Meaningful only when FiltersHidden is empty.
	Filters []DeclineFilter
	// FiltersHidden is set when the decline filters could not be read; it
	// says why, and how to see them.
	FiltersHidden string
	// Now is the time the explanation is made at.
	Now time.Time
}

// DeclineFilter is one decline filter of a framework: after it declined
// an offer of the agent, the master does not offer it that agent again
// until Until. Its JSON is the console's (GET
// /api/v1/frameworks/{namespace}/{name}, field filters).
type DeclineFilter struct {
	// AgentID is the refused agent's agentID.
	AgentID string `json:"agentID"`
	// Node is the agent's node name (the Agent's name), when the master
	// knows it.
	Node string `json:"node,omitempty"`
	// Until is when the filter ends.
	Until time.Time `json:"until"`
}

// maxDetails bounds the lines a rule lists; the rest are counted.
const maxDetails = 5

// ExplainFramework says why a framework gets no offers: every rule that
// fires, in the order the master applies them. It never fails: what it
// cannot see becomes a note.
func ExplainFramework(f FrameworkFacts) Explanation {
	fw := f.Framework
	e := Explanation{APIVersion: APIVersion, Kind: KindExplanation,
		Subject: Subject{Kind: "Framework", Namespace: fw.Namespace, Name: fw.Name, Phase: string(fw.Status.Phase)}}
	if r, done := frameworkDone(fw, f.Now); done {
		e.Reasons = append(e.Reasons, r)
		return e
	}
	for _, rule := range []func(FrameworkFacts) (Reason, bool){
		notRegistered, suppressed, disconnected, holdsOffers, declineFiltered, behindInDRF, noAgentFits, agentsUnavailable,
	} {
		if r, ok := rule(f); ok {
			e.Reasons = append(e.Reasons, r)
		}
	}
	if len(e.Reasons) == 0 {
		e.Reasons = append(e.Reasons, Reason{Rule: RuleEligible, Message: "nothing visible keeps offers from it: it is Active, not suppressed and first in DRF order among the frameworks you can see; the master offers it each agent with free resources in its next allocation cycle"})
	}
	if f.FiltersHidden != "" {
		rule := refuseRule(fw)
		e.Notes = append(e.Notes, fmt.Sprintf("decline filters are not shown (only the leading master holds them, and its console serves them): %s. %s%s", strings.TrimRight(f.FiltersHidden, ". "), strings.ToUpper(rule[:1]), rule[1:]))
	}
	if f.FrameworksHidden != "" {
		e.Notes = append(e.Notes, "frameworks of other namespaces are not visible: "+f.FrameworksHidden+"; DRF order is among the visible ones only")
	}
	if f.AgentsHidden != "" {
		e.Notes = append(e.Notes, "agents are not visible: "+f.AgentsHidden+"; free resources cannot be checked")
	}
	if !f.WeightsKnown {
		e.Notes = append(e.Notes, "role weights are unknown (the master's --role-weights could not be read; pass --role-weights): 1 assumed")
	}
	return e
}

func frameworkDone(fw *kmv1.Framework, now time.Time) (Reason, bool) {
	switch {
	case fw.DeletionTimestamp != nil || fw.Status.Phase == kmv1.FrameworkTearingDown:
		since := fw.CreationTimestamp.Time
		if fw.DeletionTimestamp != nil {
			since = fw.DeletionTimestamp.Time
		}
		return Reason{Rule: RuleFrameworkDone, Message: fmt.Sprintf("it is being torn down (deleted %s ago): its tasks are being killed and it gets no more offers", age(now, since))}, true
	case fw.Status.Phase == kmv1.FrameworkCompleted || fw.Status.Phase == kmv1.FrameworkFailed:
		msg := fmt.Sprintf("it is %s", fw.Status.Phase)
		if fw.Status.CompletionTime != nil {
			msg += fmt.Sprintf(" since %s ago", age(now, fw.Status.CompletionTime.Time))
		}
		msg += ": a finished framework gets no offers; create a new Framework to run again"
		r := Reason{Rule: RuleFrameworkDone, Message: msg}
		if fw.Status.Result != "" {
			r.Details = append(r.Details, "result: "+fw.Status.Result)
		}
		if fw.Status.Message != "" {
			r.Details = append(r.Details, "message: "+fw.Status.Message)
		}
		return r, true
	}
	return Reason{}, false
}

// refuseRule says how long a decline filters an agent for fw, and what
// clears the filters.
func refuseRule(fw *kmv1.Framework) string {
	refuse := int32(5)
	if fw.Spec.OfferFilters != nil && fw.Spec.OfferFilters.RefuseSeconds != nil {
		refuse = *fw.Spec.OfferFilters.RefuseSeconds
	}
	return fmt.Sprintf("each declined (deleted) offer filters its agent for this framework for %ds (spec.offerFilters.refuseSeconds, or the offer's %s annotation); a revive clears them (the SDK's ReviveOffers, a Mesos REVIVE call, or a new value of the Framework's %s annotation)", refuse, kmv1.AnnotationRefuseSeconds, kmv1.AnnotationRevive)
}

func notRegistered(f FrameworkFacts) (Reason, bool) {
	if f.Framework.Status.FrameworkID != "" {
		return Reason{}, false
	}
	return Reason{Rule: RuleNotRegistered, Message: fmt.Sprintf("the master has not registered it (no status.frameworkID, created %s ago): is the kubemesos master running? kubectl get pods -A -l %s=master", age(f.Now, f.Framework.CreationTimestamp.Time), kmv1.LabelComponent)}, true
}

func suppressed(f FrameworkFacts) (Reason, bool) {
	if !f.Framework.Spec.SuppressOffers {
		return Reason{}, false
	}
	return Reason{Rule: RuleSuppressed, Message: fmt.Sprintf("it suppresses offers (spec.suppressOffers is true); revive them with kubectl patch framework %s -n %s --type=merge -p '{\"spec\":{\"suppressOffers\":false}}'", f.Framework.Name, f.Framework.Namespace)}, true
}

func disconnected(f FrameworkFacts) (Reason, bool) {
	fw := f.Framework
	if fw.Status.Phase != kmv1.FrameworkDisconnected && fw.Status.Phase != kmv1.FrameworkPending {
		return Reason{}, false
	}
	msg := fmt.Sprintf("its scheduler is not connected (phase %s): no scheduler holds the Lease %s", fw.Status.Phase, kmv1.SchedulerLeaseName(fw.Name))
	r := Reason{Rule: RuleDisconnected}
	if c := meta.FindStatusCondition(fw.Status.Conditions, kmv1.FrameworkSchedulerConnected); c != nil && c.Status != metav1.ConditionTrue {
		msg += fmt.Sprintf(" since %s ago (%s)", age(f.Now, c.LastTransitionTime.Time), c.Reason)
		if c.Message != "" {
			r.Details = append(r.Details, c.Message)
		}
		if c.Reason == kmv1.ReasonSchedulerLeaseExpired && fw.Spec.FailoverTimeoutSeconds != nil {
			left := c.LastTransitionTime.Add(time.Duration(*fw.Spec.FailoverTimeoutSeconds) * time.Second).Sub(f.Now)
			if left > 0 {
				r.Details = append(r.Details, fmt.Sprintf("its tasks keep running; it is torn down in %s (failoverTimeoutSeconds %d) unless a scheduler reconnects", age(f.Now, f.Now.Add(-left)), *fw.Spec.FailoverTimeoutSeconds))
			}
		}
	}
	if fw.Spec.Scheduler != nil {
		r.Details = append(r.Details, fmt.Sprintf("the master runs its scheduler as pod %s-scheduler: kubectl describe pod %s-scheduler -n %s", fw.Name, fw.Name, fw.Namespace))
	}
	r.Message = msg
	return r, true
}

func holdsOffers(f FrameworkFacts) (Reason, bool) {
	if len(f.Offers) == 0 {
		return Reason{}, false
	}
	offers := slices.Clone(f.Offers)
	slices.SortFunc(offers, func(a, b kmv1.Offer) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Name, b.Name))
	})
	r := Reason{Rule: RuleHoldsOffers, Message: fmt.Sprintf("it holds %d outstanding offer(s): an agent it holds an offer on is not offered to it again until it accepts (creates Tasks) or declines (deletes the Offer)", len(offers))}
	for i, o := range offers {
		if i == maxDetails {
			r.Details = append(r.Details, fmt.Sprintf("%d more", len(offers)-maxDetails))
			break
		}
		r.Details = append(r.Details, fmt.Sprintf("offer %s on agent %s, %s old: %s", o.Name, o.Spec.NodeName, age(f.Now, o.CreationTimestamp.Time), formatResources(o.Spec.Resources)))
	}
	return r, true
}

// liveFilters returns the decline filters that have not ended at f.Now,
// the nearest end first.
func liveFilters(f FrameworkFacts) []DeclineFilter {
	if f.FiltersHidden != "" {
		return nil
	}
	var live []DeclineFilter
	for _, df := range f.Filters {
		if df.Until.After(f.Now) {
			live = append(live, df)
		}
	}
	slices.SortFunc(live, func(a, b DeclineFilter) int {
		return cmp.Or(a.Until.Compare(b.Until), cmp.Compare(a.Node, b.Node), cmp.Compare(a.AgentID, b.AgentID))
	})
	return live
}

// refusedAgents returns the agentIDs that the framework refuses now.
func refusedAgents(f FrameworkFacts) map[string]bool {
	out := map[string]bool{}
	for _, df := range liveFilters(f) {
		out[df.AgentID] = true
	}
	return out
}

// filteredAgentName names the agent of a filter: its node as the master
// gave it, else the visible Agent of that agentID, else the agentID.
func filteredAgentName(df DeclineFilter, agents []kmv1.Agent) string {
	if df.Node != "" {
		return df.Node
	}
	for i := range agents {
		if agents[i].Status.AgentID == df.AgentID {
			return agents[i].Name
		}
	}
	return "with agentID " + df.AgentID
}

// clockTime is t in UTC: the time of day when it falls on now's day,
// else the date too.
func clockTime(now, t time.Time) string {
	t, now = t.UTC(), now.UTC()
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format("15:04:05Z")
	}
	return t.Format(time.RFC3339)
}

func declineFiltered(f FrameworkFacts) (Reason, bool) {
	live := liveFilters(f)
	if len(live) == 0 {
		return Reason{}, false
	}
	first := live[0].Until
	ends := fmt.Sprintf("%s (in %s)", clockTime(f.Now, first), age(first, f.Now))
	refused := refusedAgents(f)
	active := activeAgents(f.Agents)
	all := f.AgentsHidden == "" && len(active) > 0 && !slices.ContainsFunc(active, func(a *kmv1.Agent) bool { return !refused[a.Status.AgentID] })
	r := Reason{Rule: RuleDeclineFiltered}
	if all {
		r.Message = fmt.Sprintf("it declined offers of every active agent (%d) and refuses them all until their decline filters end: nothing is offered to it before %s", len(active), ends)
	} else {
		r.Message = fmt.Sprintf("it declined offers of %d agent(s) and refuses them until their decline filters end, the first at %s", len(live), ends)
	}
	for i, df := range live {
		if i == maxDetails {
			r.Details = append(r.Details, fmt.Sprintf("%d more agent(s)", len(live)-maxDetails))
			break
		}
		r.Details = append(r.Details, fmt.Sprintf("agent %s until %s (in %s)", filteredAgentName(df, f.Agents), clockTime(f.Now, df.Until), age(df.Until, f.Now)))
	}
	r.Details = append(r.Details, refuseRule(f.Framework))
	return r, true
}

// eligible reports whether the master may offer to fw: registered, Active,
// not suppressing and not being deleted.
func eligible(fw *kmv1.Framework) bool {
	return fw.DeletionTimestamp == nil && fw.Status.FrameworkID != "" && fw.Status.Phase == kmv1.FrameworkActive && !fw.Spec.SuppressOffers
}

func roleOf(fw *kmv1.Framework) string {
	if fw.Spec.Role == "" {
		return kmv1.DefaultRole
	}
	return fw.Spec.Role
}

func behindInDRF(f FrameworkFacts) (Reason, bool) {
	me := f.Framework
	myRole := roleOf(me)
	myShare := parseShare(me.Status.DominantShare)
	key := func(fw *kmv1.Framework) string { return fw.Namespace + "/" + fw.Name }
	roleShares := map[string]float64{}
	roleHasEligible := map[string]bool{}
	var sameRole []kmv1.Framework
	for i := range f.Frameworks {
		fw := &f.Frameworks[i]
		if fw.Status.FrameworkID == "" {
			continue
		}
		r := roleOf(fw)
		roleShares[r] += parseShare(fw.Status.DominantShare)
		if key(fw) == key(me) || !eligible(fw) {
			continue
		}
		roleHasEligible[r] = true
		s := parseShare(fw.Status.DominantShare)
		if r == myRole && (s < myShare || s == myShare && key(fw) < key(me)) {
			sameRole = append(sameRole, *fw)
		}
	}
	if _, ok := roleShares[myRole]; !ok {
		roleShares[myRole] = myShare
	}
	myWeighted := roleShares[myRole] / allocator.Weight(f.Weights, myRole)
	var rolesAhead []string
	for r, s := range roleShares {
		w := s / allocator.Weight(f.Weights, r)
		if r != myRole && roleHasEligible[r] && (w < myWeighted || w == myWeighted && r < myRole) {
			rolesAhead = append(rolesAhead, r)
		}
	}
	if len(sameRole) == 0 && len(rolesAhead) == 0 {
		return Reason{}, false
	}
	slices.SortFunc(sameRole, func(a, b kmv1.Framework) int {
		return cmp.Or(cmp.Compare(parseShare(a.Status.DominantShare), parseShare(b.Status.DominantShare)), cmp.Compare(key(&a), key(&b)))
	})
	slices.SortFunc(rolesAhead, func(a, b string) int {
		return cmp.Or(cmp.Compare(roleShares[a]/allocator.Weight(f.Weights, a), roleShares[b]/allocator.Weight(f.Weights, b)), cmp.Compare(a, b))
	})
	var ahead []string
	if len(sameRole) > 0 {
		ahead = append(ahead, fmt.Sprintf("%d framework(s) of role %s rank ahead of it (its dominant share is %.3f)", len(sameRole), myRole, myShare))
	}
	if len(rolesAhead) > 0 {
		ahead = append(ahead, fmt.Sprintf("%d role(s) rank ahead of role %s (its weighted share is %.3f)", len(rolesAhead), myRole, myWeighted))
	}
	r := Reason{Rule: RuleBehindInDRF, Message: "DRF offers each agent to others first: " + strings.Join(ahead, ", and ")}
	for i, fw := range sameRole {
		if i == maxDetails {
			r.Details = append(r.Details, fmt.Sprintf("%d more framework(s) of role %s", len(sameRole)-maxDetails, myRole))
			break
		}
		r.Details = append(r.Details, fmt.Sprintf("framework %s/%s: dominant share %.3f", fw.Namespace, fw.Name, parseShare(fw.Status.DominantShare)))
	}
	for i, role := range rolesAhead {
		if i == maxDetails {
			r.Details = append(r.Details, fmt.Sprintf("%d more role(s)", len(rolesAhead)-maxDetails))
			break
		}
		r.Details = append(r.Details, fmt.Sprintf("role %s: weighted share %.3f (weight %g)", role, roleShares[role]/allocator.Weight(f.Weights, role), allocator.Weight(f.Weights, role)))
	}
	return r, true
}

// taskAsk is what a task needs of an agent: its resources and, for a
// custom executor, the executor's.
func taskAsk(t *kmv1.Task) kmv1.ResourceList {
	ask := add(t.Spec.Resources, nil)
	if t.Spec.Executor != nil {
		ask = add(ask, t.Spec.Executor.Resources)
	}
	delete(ask, kmv1.ResourcePorts)
	return ask
}

// activeAgents returns the Active agents, by name.
func activeAgents(agents []kmv1.Agent) []*kmv1.Agent {
	var out []*kmv1.Agent
	for i := range agents {
		if agents[i].Status.Phase == kmv1.AgentActive && agents[i].Status.AgentID != "" {
			out = append(out, &agents[i])
		}
	}
	slices.SortFunc(out, func(a, b *kmv1.Agent) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// freeFor returns what agent a has free for the framework: its free
// resources plus the framework's own offer on it, which it may use.
func freeFor(a *kmv1.Agent, offers []kmv1.Offer) kmv1.ResourceList {
	free := freeOf(a)
	for _, o := range offers {
		if o.Spec.AgentID == a.Status.AgentID {
			free = add(free, o.Spec.Resources)
		}
	}
	return free
}

func noAgentFits(f FrameworkFacts) (Reason, bool) {
	if f.AgentsHidden != "" {
		return Reason{}, false
	}
	active := activeAgents(f.Agents)
	if len(active) == 0 {
		return Reason{}, false // agentsUnavailable says it
	}
	// An agent the framework refuses is not offered to it, whatever it
	// has free: declineFiltered names those.
	refused := refusedAgents(f)
	agents := slices.DeleteFunc(slices.Clone(active), func(a *kmv1.Agent) bool { return refused[a.Status.AgentID] })
	if len(agents) == 0 {
		return Reason{}, false
	}
	none := "no active agent"
	if len(agents) < len(active) {
		none = fmt.Sprintf("of the %d active agent(s) it does not refuse, none", len(agents))
	}
	if f.LastTask == nil || len(taskAsk(f.LastTask)) == 0 {
		var best *kmv1.Agent
		for _, a := range agents {
			if allocatable(freeFor(a, f.Offers)) {
				best = a
				break
			}
		}
		if best != nil {
			return Reason{}, false
		}
		r := Reason{Rule: RuleNoAgentFree, Message: fmt.Sprintf("%s has free the least the master offers (%s): the rest is in use or offered to others", none, formatResources(minimumFree))}
		for i, a := range agents {
			if i == maxDetails {
				r.Details = append(r.Details, fmt.Sprintf("%d more agent(s)", len(agents)-maxDetails))
				break
			}
			r.Details = append(r.Details, fmt.Sprintf("agent %s: free %s", a.Name, formatResources(freeFor(a, f.Offers))))
		}
		return r, true
	}
	ask := taskAsk(f.LastTask)
	type gap struct {
		agent   *kmv1.Agent
		missing kmv1.ResourceList
		size    float64
	}
	var gaps []gap
	for _, a := range agents {
		missing, size := shortfall(ask, freeFor(a, f.Offers))
		if len(missing) == 0 {
			return Reason{}, false
		}
		gaps = append(gaps, gap{a, missing, size})
	}
	slices.SortStableFunc(gaps, func(a, b gap) int { return cmp.Compare(a.size, b.size) })
	r := Reason{Rule: RuleNoAgentFits, Message: fmt.Sprintf("%s has free what its last task %s used (%s); closest: agent %s needs %s more", none, f.LastTask.Name, formatResources(ask), gaps[0].agent.Name, formatResources(gaps[0].missing))}
	for i, g := range gaps {
		if i == maxDetails {
			r.Details = append(r.Details, fmt.Sprintf("%d more agent(s)", len(gaps)-maxDetails))
			break
		}
		r.Details = append(r.Details, fmt.Sprintf("agent %s: free %s; needs %s more", g.agent.Name, formatResources(freeFor(g.agent, f.Offers)), formatResources(g.missing)))
	}
	return r, true
}

func agentsUnavailable(f FrameworkFacts) (Reason, bool) {
	if f.AgentsHidden != "" {
		return Reason{}, false
	}
	var down []*kmv1.Agent
	for i := range f.Agents {
		if a := &f.Agents[i]; a.Status.Phase != kmv1.AgentActive || a.Status.AgentID == "" {
			down = append(down, a)
		}
	}
	active := len(f.Agents) - len(down)
	if len(down) == 0 && active > 0 {
		return Reason{}, false
	}
	slices.SortFunc(down, func(a, b *kmv1.Agent) int { return cmp.Compare(a.Name, b.Name) })
	r := Reason{Rule: RuleAgentsUnavailable}
	switch {
	case len(f.Agents) == 0:
		r.Message = "there is no agent at all: is the kubemesos agent DaemonSet running? kubectl get pods -A -l " + kmv1.LabelComponent + "=agent"
	case active == 0:
		r.Message = fmt.Sprintf("no agent is active: all %d are unreachable, gone, draining or not admitted", len(f.Agents))
	default:
		r.Message = fmt.Sprintf("%d of %d agents are not active, and their resources are not offered", len(down), len(f.Agents))
	}
	for i, a := range down {
		if i == maxDetails {
			r.Details = append(r.Details, fmt.Sprintf("%d more agent(s)", len(down)-maxDetails))
			break
		}
		phase := string(a.Status.Phase)
		if phase == "" {
			phase = "not admitted"
		}
		line := fmt.Sprintf("agent %s: %s", a.Name, phase)
		if a.Status.Phase == kmv1.AgentUnreachable && a.Status.UnreachableTime != nil {
			line += fmt.Sprintf(" since %s ago", age(f.Now, a.Status.UnreachableTime.Time))
		}
		if a.Status.Message != "" {
			line += ": " + a.Status.Message
		}
		r.Details = append(r.Details, line)
	}
	return r, true
}
