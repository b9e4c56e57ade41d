package schedcache

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	b "github.com/kubemesos/kubemesos/internal/builders"
)

// TestFilterViews: FiltersOf lists one framework's live filters with
// their ends, FilterCounts counts every framework's, and neither shows a
// filter that ended or a framework that is gone.
func TestFilterViews(t *testing.T) {
	c, clk := newCache()
	one, two := b.MakeFramework("one", "ns").Obj(), b.MakeFramework("two", "ns").Obj()
	c.Upsert(one)
	c.Upsert(two)
	k1, k2 := client.ObjectKeyFromObject(one), client.ObjectKeyFromObject(two)
	c.Filter(Pair{Framework: k1, AgentID: "a2"}, start.Add(10*time.Second))
	c.Filter(Pair{Framework: k1, AgentID: "a1"}, start.Add(20*time.Second))
	c.Filter(Pair{Framework: k1, AgentID: "a3"}, start.Add(time.Second))
	c.Filter(Pair{Framework: k2, AgentID: "a1"}, start.Add(5*time.Second))
	clk.Step(2 * time.Second) // a3's filter ended, not yet settled by a cycle

	want := []FilterEnd{{AgentID: "a1", Until: start.Add(20 * time.Second)}, {AgentID: "a2", Until: start.Add(10 * time.Second)}}
	got := c.FiltersOf(k1)
	for i := range got {
		got[i].Until = got[i].Until.UTC()
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("FiltersOf(one) (-want +got):\n%s", d)
	}
	if got := c.FiltersOf(types.NamespacedName{Namespace: "ns", Name: "unknown"}); got != nil {
		t.Errorf("FiltersOf(unknown) = %v, want none", got)
	}
	if d := cmp.Diff(map[types.NamespacedName]int{k1: 2, k2: 1}, c.FilterCounts()); d != "" {
		t.Errorf("FilterCounts (-want +got):\n%s", d)
	}
	c.Remove(two)
	clk.Step(9 * time.Second)
	if d := cmp.Diff(map[types.NamespacedName]int{k1: 1}, c.FilterCounts()); d != "" {
		t.Errorf("FilterCounts after two went and a2's filter ended (-want +got):\n%s", d)
	}
}
