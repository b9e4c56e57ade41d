package schedcache

import (
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kubemesos/kubemesos/controllers/allocator"
)

// Frameworks have slots: small stable indexes, reused after a framework
// is deleted. A cycle's allocator input indexes frameworks by slot, so the
// decline filters can be kept as one bitset per agent and handed to the
// allocator as they are, however many there are (Mesos's DeclineOffers
// shape: 10,000 agents × 1,000 frameworks, every pair declined).
type slots struct {
	of   map[types.NamespacedName]int
	keys []types.NamespacedName // by slot; zero when free
	free []int
}

func newSlots() slots { return slots{of: map[types.NamespacedName]int{}} }

// take returns fw's slot, giving it one if it has none.
func (s *slots) take(fw types.NamespacedName) int {
	if i, ok := s.of[fw]; ok {
		return i
	}
	i := len(s.keys)
	if n := len(s.free); n > 0 {
		i, s.free = s.free[n-1], s.free[:n-1]
		s.keys[i] = fw
	} else {
		s.keys = append(s.keys, fw)
	}
	s.of[fw] = i
	return i
}

// release frees fw's slot and returns it, or -1.
func (s *slots) release(fw types.NamespacedName) int {
	i, ok := s.of[fw]
	if !ok {
		return -1
	}
	delete(s.of, fw)
	s.keys[i] = types.NamespacedName{}
	s.free = append(s.free, i)
	return i
}

// slot returns fw's slot, or -1.
func (s *slots) slot(fw types.NamespacedName) int {
	if i, ok := s.of[fw]; ok {
		return i
	}
	return -1
}

// agentFilters are the frameworks that refuse one agent (by slot) and
// until when, in unix nanoseconds: 12 bytes a filter.
type agentFilters struct {
	bits     allocator.Bitset
	slots    []int32
	until    []int64
	earliest int64
}

// filters are the decline filters, by agentID.
type filters map[string]*agentFilters

// set makes framework slot refuse agentID until the given time, or later
// if it already does.
func (f filters) set(agentID string, slot int, until time.Time) {
	af := f[agentID]
	if af == nil {
		af = &agentFilters{earliest: until.UnixNano()}
		f[agentID] = af
	}
	u := until.UnixNano()
	if af.bits.Has(slot) {
		for i, s := range af.slots {
			if int(s) == slot && af.until[i] < u {
				af.until[i] = u
			}
		}
		return
	}
	af.bits.Set(slot)
	af.slots = append(af.slots, int32(slot))
	af.until = append(af.until, u)
	af.earliest = min(af.earliest, u)
}

// drop removes a slot's filters everywhere, for a framework gone.
func (f filters) drop(slot int) {
	for id, af := range f {
		if af.bits.Has(slot) {
			af.keep(func(s int32, _ int64) bool { return int(s) != slot })
			if len(af.slots) == 0 {
				delete(f, id)
			}
		}
	}
}

// expire drops the filters that ended by now.
func (f filters) expire(now time.Time) {
	n := now.UnixNano()
	for id, af := range f {
		if af.earliest > n {
			continue
		}
		af.keep(func(_ int32, until int64) bool { return until > n })
		if len(af.slots) == 0 {
			delete(f, id)
		}
	}
}

// keep keeps the filters for which ok holds, and recomputes the bitset
// and the earliest end.
func (af *agentFilters) keep(ok func(slot int32, until int64) bool) {
	j := 0
	af.earliest = 1<<63 - 1
	for i := range af.slots {
		if !ok(af.slots[i], af.until[i]) {
			w := int(af.slots[i]) / 64
			af.bits[w] &^= 1 << (uint(af.slots[i]) % 64)
			continue
		}
		af.slots[j], af.until[j] = af.slots[i], af.until[i]
		af.earliest = min(af.earliest, af.until[i])
		j++
	}
	af.slots, af.until = af.slots[:j], af.until[:j]
}
