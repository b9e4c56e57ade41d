package console

import (
	"sync"
	"time"

	"github.com/kubemesos/kubemesos/controllers"
	"github.com/kubemesos/kubemesos/controllers/allocator"
)

// HistoryLength is how many cycles the allocation history keeps: ten
// minutes at the default allocation interval of one second.
const HistoryLength = 600

// Sample is the allocation at the end of one cycle, in plain numbers:
// cpu in cores, memory in bytes, any other resource in its unit.
type Sample struct {
	At time.Time `json:"at"`
	// Total and Offered are the cluster's; only a viewer who may list
	// agents gets them.
	Total   map[string]float64 `json:"total,omitempty"`
	Offered map[string]float64 `json:"offered,omitempty"`
	// Allocated is the cluster's for a viewer who may read every
	// namespace, else the sum over the viewer's namespaces.
	Allocated map[string]float64 `json:"allocated,omitempty"`
}

// sample is one cycle's record: the cluster's figures, and what each
// namespace's frameworks hold.
type sample struct {
	at                        time.Time
	total, offered, allocated map[string]float64
	byNamespace               map[string]map[string]float64
}

// history is a bounded ring of samples, one per cycle, safe for
// concurrent use.
type history struct {
	mu      sync.Mutex
	samples []sample
	next    int
	lastSeq uint64
}

// record adds cycle c unless it was recorded already.
func (h *history) record(c *controllers.Cycle) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c == nil || c.Seq == h.lastSeq {
		return
	}
	h.lastSeq = c.Seq
	in := c.Input
	var total, used, offered allocator.Vector
	for i := range in.Agents {
		total, used, offered = total.Add(in.Agents[i].Total), used.Add(in.Agents[i].Used), offered.Add(in.Agents[i].Offered)
	}
	s := sample{at: c.At, total: plain(in.Names, total), offered: plain(in.Names, offered), byNamespace: map[string]map[string]float64{}}
	byNs := map[string]allocator.Vector{}
	for slot, fw := range c.Frameworks {
		if fw != nil {
			byNs[fw.Namespace] = byNs[fw.Namespace].Add(in.Frameworks[slot].Allocated)
		}
	}
	var allocated allocator.Vector
	for ns, v := range byNs {
		s.byNamespace[ns] = plain(in.Names, v)
		allocated = allocated.Add(v)
	}
	s.allocated = plain(in.Names, allocated)
	if len(h.samples) < HistoryLength {
		h.samples = append(h.samples, s)
		return
	}
	h.samples[h.next] = s
	h.next = (h.next + 1) % HistoryLength
}

// view returns the samples as the viewer may see them, oldest first.
func (h *history) view(a *access) []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Sample, 0, len(h.samples))
	for i := range h.samples {
		s := &h.samples[(h.next+i)%len(h.samples)]
		v := Sample{At: s.at}
		if a.agents {
			v.Total, v.Offered = s.total, s.offered
		}
		if a.all {
			v.Allocated = s.allocated
		} else {
			v.Allocated = map[string]float64{}
			for ns, m := range s.byNamespace {
				if a.sees(ns) {
					for r, x := range m {
						v.Allocated[r] += x
					}
				}
			}
		}
		out = append(out, v)
	}
	return out
}

// plain turns a vector into numbers by resource name, leaving out zeros.
func plain(names *allocator.Names, v allocator.Vector) map[string]float64 {
	out := map[string]float64{}
	for n, q := range names.ResourceList(v) {
		if !q.IsZero() {
			out[string(n)] = q.AsApproximateFloat64()
		}
	}
	return out
}
