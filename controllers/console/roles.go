package console

import (
	"slices"

	"github.com/kubemesos/kubemesos/controllers/allocator"
)

// Role is one role: its weight and its share.
type Role struct {
	Name string `json:"name"`
	// Weight is its DRF weight (its own, else its nearest ancestor's,
	// else 1); Configured tells whether the operator set one for it.
	Weight     float64 `json:"weight"`
	Configured bool    `json:"configured,omitempty"`
	// Allocated is what its frameworks hold, and DominantShare that as a
	// dominant share of the active agents' total; WeightedShare divides
	// it by the weight, which is what DRF orders roles by. For a viewer
	// who may not read every namespace, these count the viewer's
	// frameworks only.
	Allocated     Resources `json:"allocated,omitempty"`
	DominantShare float64   `json:"dominantShare"`
	WeightedShare float64   `json:"weightedShare"`
	// Frameworks counts the viewer's frameworks in the role.
	Frameworks int `json:"frameworks"`
}

// listRoles lists the roles of the viewer's frameworks, and, for a viewer
// who may read every namespace, every role with a configured weight.
func listRoles(m *model, a *access) []Role {
	alloc := map[string]allocator.Vector{}
	count := map[string]int{}
	for _, f := range m.frameworks {
		if a.sees(f.obj.Namespace) {
			r := roleOf(f.obj)
			alloc[r] = alloc[r].Add(f.allocated)
			count[r]++
		}
	}
	out := []Role{}
	for _, name := range m.roles {
		_, configured := m.weights[name]
		if count[name] == 0 && !(a.all && configured) {
			continue
		}
		w := allocator.Weight(m.weights, name)
		share := allocator.DominantShare(alloc[name], m.total)
		out = append(out, Role{Name: name, Weight: w, Configured: configured, Allocated: m.resources(alloc[name]),
			DominantShare: share, WeightedShare: share / w, Frameworks: count[name]})
	}
	slices.SortStableFunc(out, func(x, y Role) int {
		switch {
		case x.WeightedShare < y.WeightedShare:
			return -1
		case x.WeightedShare > y.WeightedShare:
			return 1
		}
		return 0
	})
	return out
}
