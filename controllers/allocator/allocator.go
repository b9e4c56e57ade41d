// Package allocator is the master's resource allocator: hierarchical
// Dominant Resource Fairness (DRF) over agents and frameworks, as in the Mesos
// master. It is pure Go with no Kubernetes client: the master's glue builds
// an Input from its informer caches, calls Allocate once per cycle, and turns
// the result into Offer objects.
//
// One cycle walks the agents. Each agent with allocatable free resources is
// offered, whole, to the framework that DRF ranks first among those that may
// receive it: roles are ordered by weighted dominant share, then frameworks
// within a role by dominant share. A framework may receive it unless it is
// ineligible (suppressed, or its scheduler disconnected), already holds an
// offer on that agent, or declined that agent within its refuse filter.
package allocator

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Agent is one admitted, active agent.
type Agent struct {
	// ID is the agentID.
	ID string
	// Node is the agent's node name.
	Node string
	// Total is what the agent offers when idle: the Agent's spec.resources
	// less spec.held.
	Total Vector
	// Used is the sum of the resources of the agent's live tasks.
	Used Vector
	// Offered is the sum of the agent's outstanding offers.
	Offered Vector
}

// Framework is one registered framework.
type Framework struct {
	// Key identifies the framework, namespace/name.
	Key string
	// Role is the framework's role.
	Role string
	// Eligible is false for a framework that must get no offers: suppressed,
	// disconnected, completed or failed.
	Eligible bool
	// Allocated is the sum of the framework's live tasks and outstanding
	// offers, the basis of its dominant share.
	Allocated Vector
}

// Input is one cycle's view of the cluster.
type Input struct {
	// Names is the table of resource names of every Vector here.
	Names *Names
	// Agents are the active agents, in the order to visit them.
	Agents []Agent
	// Frameworks are the registered frameworks.
	Frameworks []Framework
	// Weights are the role weights; a role without one inherits its
	// parent's ("eng" for "eng/batch"), else 1.
	Weights map[string]float64
	// Blocked[a] holds the frameworks that may not receive agent a this
	// cycle: those that hold an offer on it or declined it within their
	// refuse filter. A nil or short set blocks nothing beyond its length.
	Blocked []Bitset
	// Minimum is the least an agent must have free to be offered: at least
	// one of its amounts (Mesos: 10m cpu or 32Mi memory).
	Minimum Vector
}

// Offer is one offer to make.
type Offer struct {
	// Framework and Agent are indexes into Input.
	Framework, Agent int
	// Resources are all the agent's free resources.
	Resources Vector
}

// DefaultMinimum returns Mesos's minimum allocatable resources, 10m cpu or
// 32Mi memory, in names' indexes.
func DefaultMinimum(names *Names) Vector {
	v := names.Zero()
	if i := names.Lookup(corev1.ResourceCPU); i >= 0 {
		v[i] = 10
	}
	if i := names.Lookup(corev1.ResourceMemory); i >= 0 {
		v[i] = 32 << 20
	}
	return v
}

// Allocatable reports whether free holds at least one of min's amounts. With
// no minimum at all, any positive amount is allocatable.
func Allocatable(free, min Vector) bool {
	any := false
	for i, m := range min {
		if m <= 0 {
			continue
		}
		any = true
		if i < len(free) && free[i] >= m {
			return true
		}
	}
	return !any && !free.IsZero()
}

// Free returns an agent's free resources: total − used − offered, never
// below zero.
func (a *Agent) Free() Vector {
	return a.Total.Clone().Sub(a.Used).Sub(a.Offered).ClampZero()
}

// sorter ranks the frameworks of a cycle: roles by weighted dominant share,
// frameworks within a role by dominant share, names breaking ties.
type sorter struct {
	total    Vector
	roles    []*role
	shares   []float64 // per framework index
	eligible Bitset
}

type role struct {
	name      string
	weight    float64
	allocated Vector
	share     float64
	members   []int // framework indexes, eligible only, in rank order
}

// DominantShares returns each framework's dominant share of the active
// agents' total, as the allocator ranks frameworks: its live tasks, their
// executors and its outstanding offers (Framework.Allocated). Called after
// Allocate, it includes the offers just made.
func (in *Input) DominantShares() []float64 {
	total := in.Names.Zero()
	for i := range in.Agents {
		total = total.Add(in.Agents[i].Total)
	}
	out := make([]float64, len(in.Frameworks))
	for i := range in.Frameworks {
		out[i] = dominantShare(in.Frameworks[i].Allocated, total)
	}
	return out
}

// dominantShare is max over resources of v/total.
func dominantShare(v, total Vector) float64 {
	s := 0.0
	for i, x := range v {
		if i < len(total) && total[i] > 0 && x > 0 {
			if f := float64(x) / float64(total[i]); f > s {
				s = f
			}
		}
	}
	return s
}

// ParseWeight reads a role's DRF weight: a finite positive number (the
// master's --role-weights, and what kubectl mesos reads back of it).
func ParseWeight(role, w string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(w), 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("the weight of role %q is %q; want a positive number, such as prod=3", role, w)
	}
	return f, nil
}

// Weight returns the weight of role r: its own, else its nearest ancestor's,
// else 1.
func Weight(weights map[string]float64, r string) float64 {
	for {
		if w, ok := weights[r]; ok && w > 0 {
			return w
		}
		i := strings.LastIndexByte(r, '/')
		if i < 0 {
			return 1
		}
		r = r[:i]
	}
}

func newSorter(in *Input) *sorter {
	total := in.Names.Zero()
	for i := range in.Agents {
		total = total.Add(in.Agents[i].Total)
	}
	s := &sorter{total: total, shares: make([]float64, len(in.Frameworks))}
	byName := map[string]*role{}
	for i := range in.Frameworks {
		fw := &in.Frameworks[i]
		r := byName[fw.Role]
		if r == nil {
			r = &role{name: fw.Role, weight: Weight(in.Weights, fw.Role), allocated: in.Names.Zero()}
			byName[fw.Role] = r
			s.roles = append(s.roles, r)
		}
		r.allocated = r.allocated.Add(fw.Allocated)
		s.shares[i] = dominantShare(fw.Allocated, total)
		if fw.Eligible {
			r.members = append(r.members, i)
			s.eligible.Set(i)
		}
	}
	for _, r := range s.roles {
		r.share = dominantShare(r.allocated, total) / r.weight
		slices.SortFunc(r.members, func(a, b int) int { return s.cmpFramework(in, a, b) })
	}
	slices.SortFunc(s.roles, cmpRole)
	return s
}

func cmpRole(a, b *role) int {
	if c := cmp.Compare(a.share, b.share); c != 0 {
		return c
	}
	return strings.Compare(a.name, b.name)
}

func (s *sorter) cmpFramework(in *Input, a, b int) int {
	if c := cmp.Compare(s.shares[a], s.shares[b]); c != 0 {
		return c
	}
	return strings.Compare(in.Frameworks[a].Key, in.Frameworks[b].Key)
}

// charge adds offered resources to framework f of role r (at rank ri, member
// position mi) and restores the order.
func (s *sorter) charge(in *Input, ri, mi int, offered Vector) {
	r := s.roles[ri]
	f := r.members[mi]
	fw := &in.Frameworks[f]
	fw.Allocated = fw.Allocated.Add(offered)
	s.shares[f] = dominantShare(fw.Allocated, s.total)
	// The framework's share only grew: move it towards the end.
	for j := mi; j+1 < len(r.members) && s.cmpFramework(in, r.members[j], r.members[j+1]) > 0; j++ {
		r.members[j], r.members[j+1] = r.members[j+1], r.members[j]
	}
	r.allocated = r.allocated.Add(offered)
	r.share = dominantShare(r.allocated, s.total) / r.weight
	for j := ri; j+1 < len(s.roles) && cmpRole(s.roles[j], s.roles[j+1]) > 0; j++ {
		s.roles[j], s.roles[j+1] = s.roles[j+1], s.roles[j]
	}
}

// Allocate runs one allocation cycle and returns the offers to make. It
// charges each offer to its framework's Allocated in in.Frameworks, so the
// caller sees the shares after the cycle.
func Allocate(in *Input) []Offer {
	s := newSorter(in)
	var offers []Offer
	for a := range in.Agents {
		free := in.Agents[a].Free()
		if !Allocatable(free, in.Minimum) {
			continue
		}
		ri, mi, ok := s.pick(in, a)
		if !ok {
			continue
		}
		f := s.roles[ri].members[mi]
		offers = append(offers, Offer{Framework: f, Agent: a, Resources: free})
		in.Agents[a].Offered = in.Agents[a].Offered.Add(free)
		s.charge(in, ri, mi, free)
	}
	return offers
}

// pick returns the highest-ranked framework that may receive agent a.
func (s *sorter) pick(in *Input, a int) (ri, mi int, ok bool) {
	var blocked Bitset
	if a < len(in.Blocked) {
		blocked = in.Blocked[a]
	}
	// When every eligible framework is blocked on this agent, a few word
	// operations say so without walking the ranking.
	if !s.eligible.AnyNotIn(blocked) {
		return 0, 0, false
	}
	for ri, r := range s.roles {
		for mi, f := range r.members {
			if !blocked.Has(f) {
				return ri, mi, true
			}
		}
	}
	return 0, 0, false
}

// DominantShare returns v's dominant share of total: the largest of its
// amounts' fractions of total's, as DRF ranks by.
func DominantShare(v, total Vector) float64 { return dominantShare(v, total) }
