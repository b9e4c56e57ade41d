package schedcache

import (
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// FilterEnd is one decline filter of a framework: it refuses AgentID's
// offers until Until.
type FilterEnd struct {
	AgentID string
	Until   time.Time
}

// FiltersOf returns the decline filters of framework fw that have not
// ended at the cache clock's now, by agentID. It reads the filters of every
// agent that has one, for a reader that asks about one framework (the web
// console's framework page), not for a cycle.
func (c *Cache) FiltersOf(fw types.NamespacedName) []FilterEnd {
	c.mu.Lock()
	defer c.mu.Unlock()
	slot := c.slots.slot(fw)
	if slot < 0 {
		return nil
	}
	now := c.clock.Now().UnixNano()
	var out []FilterEnd
	for id, af := range c.filters {
		if !af.bits.Has(slot) {
			continue
		}
		for i, s := range af.slots {
			if int(s) == slot && af.until[i] > now {
				out = append(out, FilterEnd{AgentID: id, Until: time.Unix(0, af.until[i])})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AgentID < out[j].AgentID })
	return out
}

// FilterCounts returns, for each framework that refuses some agent at the
// cache clock's now, how many agents it refuses.
func (c *Cache) FilterCounts() map[types.NamespacedName]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now().UnixNano()
	bySlot := map[int32]int{}
	for _, af := range c.filters {
		for i, s := range af.slots {
			if af.until[i] > now {
				bySlot[s]++
			}
		}
	}
	out := make(map[types.NamespacedName]int, len(bySlot))
	for s, n := range bySlot {
		if int(s) < len(c.slots.keys) {
			if fw := c.slots.keys[s]; fw.Name != "" {
				out[fw] = n
			}
		}
	}
	return out
}
