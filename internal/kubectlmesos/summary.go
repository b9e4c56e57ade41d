package kubectlmesos

import (
	"cmp"
	"slices"
	"time"

	"github.com/kubemesos/kubemesos/controllers/allocator"

	corev1 "k8s.io/api/core/v1"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// ClusterFacts is what `status` and `top` know.
type ClusterFacts struct {
	// Agents are every Agent; AgentsHidden says why they are not, when not.
	Agents []kmv1.Agent
	// AgentsHidden is set when the Agents could not be listed.
	AgentsHidden string
	// Frameworks are the visible frameworks.
	Frameworks []kmv1.Framework
	// FrameworksHidden is set when frameworks of other namespaces could
	// not be listed.
	FrameworksHidden string
	// Weights are the role weights; WeightsKnown says whether they are the
	// master's.
	Weights map[string]float64
	// WeightsKnown is true when Weights are the master's.
	WeightsKnown bool
}

// agentPhaseRank orders phases: Active first, then the others.
func agentPhaseRank(p kmv1.AgentPhase) int {
	return slices.Index([]kmv1.AgentPhase{kmv1.AgentActive, kmv1.AgentDraining, kmv1.AgentRegistering, kmv1.AgentUnreachable, kmv1.AgentGone, ""}, p)
}

func tasksTotal(c kmv1.TaskCounts) int32 {
	return c.Staging + c.Starting + c.Running + c.Killing + c.Finished + c.Failed + c.Killed + c.Error + c.Lost + c.Dropped
}

// notes says what could not be seen; withWeights adds the weights, for
// output that shows them.
func (f ClusterFacts) notes(withWeights bool) []string {
	var notes []string
	if f.AgentsHidden != "" {
		notes = append(notes, "agents are not visible: "+f.AgentsHidden)
	}
	if f.FrameworksHidden != "" {
		notes = append(notes, "frameworks of other namespaces are not visible: "+f.FrameworksHidden)
	}
	if withWeights && !f.WeightsKnown {
		notes = append(notes, "role weights are unknown (the master's --role-weights could not be read; pass --role-weights): 1 assumed")
	}
	return notes
}

// BuildStatus sums the cluster for `status`.
func BuildStatus(f ClusterFacts) Status {
	s := Status{APIVersion: APIVersion, Kind: KindStatus, Agents: []AgentSummary{}, Frameworks: []FrameworkSummary{}, Roles: []RoleSummary{}, WeightsKnown: f.WeightsKnown, Notes: f.notes(true)}
	byPhase := map[kmv1.AgentPhase]*AgentSummary{}
	for i := range f.Agents {
		a := &f.Agents[i]
		sum := byPhase[a.Status.Phase]
		if sum == nil {
			sum = &AgentSummary{Phase: string(a.Status.Phase)}
			byPhase[a.Status.Phase] = sum
		}
		sum.Count++
		sum.Total = add(sum.Total, a.Spec.Resources)
		sum.Allocated = add(sum.Allocated, a.Status.Allocated)
		sum.Offered = add(sum.Offered, a.Status.Offered)
		sum.Free = add(sum.Free, freeOf(a))
	}
	for _, sum := range byPhase {
		s.Agents = append(s.Agents, *sum)
	}
	slices.SortFunc(s.Agents, func(a, b AgentSummary) int {
		return cmp.Compare(agentPhaseRank(kmv1.AgentPhase(a.Phase)), agentPhaseRank(kmv1.AgentPhase(b.Phase)))
	})
	for i := range f.Frameworks {
		fw := &f.Frameworks[i]
		s.Frameworks = append(s.Frameworks, FrameworkSummary{Namespace: fw.Namespace, Name: fw.Name, Role: roleOf(fw), Phase: string(fw.Status.Phase),
			Suppressed: fw.Spec.SuppressOffers, DominantShare: parseShare(fw.Status.DominantShare), TasksRunning: fw.Status.Tasks.Running,
			TasksTotal: tasksTotal(fw.Status.Tasks), OutstandingOffers: fw.Status.OutstandingOffers, Allocated: fw.Status.Allocated})
	}
	slices.SortFunc(s.Frameworks, func(a, b FrameworkSummary) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	s.Roles = roles(f)
	return s
}

// roles sums the visible frameworks by role, in DRF order: by weighted
// share, then name.
func roles(f ClusterFacts) []RoleSummary {
	byName := map[string]*RoleSummary{}
	for i := range f.Frameworks {
		fw := &f.Frameworks[i]
		name := roleOf(fw)
		r := byName[name]
		if r == nil {
			r = &RoleSummary{Name: name, Weight: allocator.Weight(f.Weights, name)}
			byName[name] = r
		}
		r.Frameworks++
		r.Share += parseShare(fw.Status.DominantShare)
		r.Allocated = add(r.Allocated, fw.Status.Allocated)
	}
	out := []RoleSummary{}
	for _, r := range byName {
		r.WeightedShare = r.Share / r.Weight
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b RoleSummary) int {
		return cmp.Or(cmp.Compare(a.WeightedShare, b.WeightedShare), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// BuildTop reports usage by framework and by role for `top`.
func BuildTop(f ClusterFacts) Top {
	t := Top{APIVersion: APIVersion, Kind: KindTop, Frameworks: []Usage{}, Roles: []Usage{}, Notes: f.notes(false)}
	for _, a := range activeAgents(f.Agents) {
		t.Capacity = add(t.Capacity, a.Spec.Resources)
	}
	usage := func(u Usage) Usage {
		u.CPUFraction = fraction(u.Allocated, t.Capacity, corev1.ResourceCPU)
		u.MemoryFraction = fraction(u.Allocated, t.Capacity, corev1.ResourceMemory)
		return u
	}
	for i := range f.Frameworks {
		fw := &f.Frameworks[i]
		t.Frameworks = append(t.Frameworks, usage(Usage{Namespace: fw.Namespace, Name: fw.Name, Role: roleOf(fw), Allocated: fw.Status.Allocated, Share: parseShare(fw.Status.DominantShare)}))
	}
	for _, r := range roles(f) {
		t.Roles = append(t.Roles, usage(Usage{Name: r.Name, Allocated: r.Allocated, Share: r.Share}))
	}
	byUse := func(a, b Usage) int {
		return cmp.Or(cmp.Compare(b.CPUFraction, a.CPUFraction), cmp.Compare(b.MemoryFraction, a.MemoryFraction),
			cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	}
	slices.SortFunc(t.Frameworks, byUse)
	slices.SortFunc(t.Roles, byUse)
	return t
}

// BuildOffers lists outstanding offers for `offers`.
func BuildOffers(offers []kmv1.Offer, now time.Time) OfferList {
	l := OfferList{APIVersion: APIVersion, Kind: KindOfferList, Items: []OfferSummary{}}
	for _, o := range offers {
		l.Items = append(l.Items, OfferSummary{Namespace: o.Namespace, Name: o.Name, Framework: string(o.Spec.Framework), Agent: o.Spec.NodeName,
			AgentID: o.Spec.AgentID, Resources: o.Spec.Resources, AgeSeconds: int64(now.Sub(o.CreationTimestamp.Time) / time.Second)})
	}
	slices.SortFunc(l.Items, func(a, b OfferSummary) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Framework, b.Framework), cmp.Compare(a.Agent, b.Agent), cmp.Compare(a.Name, b.Name))
	})
	return l
}
