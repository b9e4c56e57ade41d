package allocator

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubemesos/kubemesos/internal/builders"
)

// rl builds a ResourceList from name/quantity pairs.
func rl(pairs ...string) corev1.ResourceList { return builders.Resources(pairs...).Core() }

// world builds Inputs in tests: agents with a total, frameworks with a role
// and an allocation.
type world struct {
	in *Input
}

func newWorld() *world {
	n := NewNames()
	n.Index(corev1.ResourceCPU)
	n.Index(corev1.ResourceMemory)
	return &world{in: &Input{Names: n}}
}

func (w *world) agent(id string, total ...string) *world {
	w.in.Agents = append(w.in.Agents, Agent{ID: id, Node: id, Total: w.in.Names.Vector(rl(total...))})
	return w
}

func (w *world) framework(key, role string, alloc ...string) *world {
	w.in.Frameworks = append(w.in.Frameworks, Framework{Key: key, Role: role, Eligible: true, Allocated: w.in.Names.Vector(rl(alloc...))})
	return w
}

func (w *world) fw(key string) int {
	for i, f := range w.in.Frameworks {
		if f.Key == key {
			return i
		}
	}
	panic(key)
}

// block blocks framework key on agent id.
func (w *world) block(key, id string) {
	a := w.ag(id)
	for len(w.in.Blocked) <= a {
		w.in.Blocked = append(w.in.Blocked, nil)
	}
	w.in.Blocked[a].Set(w.fw(key))
}

func (w *world) ag(id string) int {
	for i, a := range w.in.Agents {
		if a.ID == id {
			return i
		}
	}
	panic(id)
}

// run allocates and returns "framework->agent" strings.
func (w *world) run() []string {
	if w.in.Minimum == nil {
		w.in.Minimum = DefaultMinimum(w.in.Names)
	}
	var out []string
	for _, o := range Allocate(w.in) {
		out = append(out, w.in.Frameworks[o.Framework].Key+"->"+w.in.Agents[o.Agent].ID)
	}
	return out
}

func TestAllocate(t *testing.T) {
	cases := []struct {
		name  string
		build func() *world
		want  []string
	}{
		{
			name: "one framework gets every agent",
			build: func() *world {
				return newWorld().agent("a1", "cpu", "4").agent("a2", "cpu", "4").framework("ns/f", "*")
			},
			want: []string{"ns/f->a1", "ns/f->a2"},
		},
		{
			name: "the framework with the lower dominant share goes first",
			build: func() *world {
				return newWorld().agent("a1", "cpu", "4", "memory", "8Gi").agent("a2", "cpu", "4", "memory", "8Gi").
					framework("ns/big", "*", "cpu", "1", "memory", "6Gi"). // memory share 6/16
					framework("ns/small", "*", "cpu", "2")                 // cpu share 2/8
			},
			// small (0.25) gets a1 and rises to 1.0; big (0.375) gets a2.
			want: []string{"ns/small->a1", "ns/big->a2"},
		},
		{
			name: "extended resources count in the dominant share",
			build: func() *world {
				w := newWorld().agent("a1", "cpu", "4", "example.com/gpu", "4").agent("a2", "cpu", "4", "example.com/gpu", "4")
				return w.framework("ns/gpu", "*", "example.com/gpu", "4").framework("ns/cpu", "*", "cpu", "3")
			},
			// gpu holds half the gpus (0.5); cpu holds 3/8 (0.375).
			want: []string{"ns/cpu->a1", "ns/gpu->a2"},
		},
		{
			name: "roles are ordered by weighted share before frameworks",
			build: func() *world {
				w := newWorld().agent("a1", "cpu", "10").agent("a2", "cpu", "10")
				w.in.Weights = map[string]float64{"prod": 4}
				// prod holds 4/20 (weighted 0.05); dev holds 2/20 (0.1).
				return w.framework("ns/p", "prod", "cpu", "4").framework("ns/d", "dev", "cpu", "2")
			},
			want: []string{"ns/p->a1", "ns/d->a2"},
		},
		{
			name: "ties break by name",
			build: func() *world {
				return newWorld().agent("a1", "cpu", "1").framework("ns/b", "*").framework("ns/a", "*")
			},
			want: []string{"ns/a->a1"},
		},
		{
			name: "ineligible frameworks get nothing",
			build: func() *world {
				w := newWorld().agent("a1", "cpu", "4").framework("ns/off", "*").framework("ns/on", "*", "cpu", "3")
				w.in.Frameworks[0].Eligible = false
				return w
			},
			want: []string{"ns/on->a1"},
		},
		{
			name: "a pair with an outstanding offer is skipped",
			build: func() *world {
				w := newWorld().agent("a1", "cpu", "4").framework("ns/a", "*").framework("ns/b", "*", "cpu", "1")
				w.block("ns/a", "a1")
				return w
			},
			want: []string{"ns/b->a1"},
		},
		{
			name: "an agent blocked for every eligible framework is skipped",
			build: func() *world {
				w := newWorld().agent("a1", "cpu", "4").agent("a2", "cpu", "4").framework("ns/a", "*").framework("ns/b", "*").framework("ns/off", "*")
				w.in.Frameworks[2].Eligible = false
				w.block("ns/a", "a1")
				w.block("ns/b", "a1")
				return w
			},
			want: []string{"ns/a->a2"},
		},
		{
			name: "a filtered pair is skipped",
			build: func() *world {
				w := newWorld().agent("a1", "cpu", "4").agent("a2", "cpu", "4").framework("ns/a", "*")
				w.block("ns/a", "a1")
				return w
			},
			want: []string{"ns/a->a2"},
		},
		{
			name: "used and offered resources are not free",
			build: func() *world {
				w := newWorld().agent("a1", "cpu", "4", "memory", "1Gi").agent("a2", "cpu", "4", "memory", "1Gi").framework("ns/a", "*")
				w.in.Agents[0].Used = w.in.Names.Vector(rl("cpu", "3", "memory", "512Mi"))
				w.in.Agents[0].Offered = w.in.Names.Vector(rl("cpu", "995m", "memory", "500Mi"))
				return w
			},
			// a1 has 5m cpu and 12Mi free: under the minimum.
			want: []string{"ns/a->a2"},
		},
		{
			name: "nothing to offer to a framework holding every agent",
			build: func() *world {
				w := newWorld().agent("a1", "cpu", "4").framework("ns/a", "*")
				w.block("ns/a", "a1")
				return w
			},
			want: nil,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, tc.build().run()); d != "" {
				t.Errorf("offers (-want +got):\n%s", d)
			}
		})
	}
}

func TestAllocateOffersAllFreeResourcesAndCharges(t *testing.T) {
	w := newWorld().agent("a1", "cpu", "4", "memory", "8Gi").framework("ns/a", "*")
	w.in.Agents[0].Used = w.in.Names.Vector(rl("cpu", "1", "memory", "1Gi"))
	w.in.Minimum = DefaultMinimum(w.in.Names)
	offers := Allocate(w.in)
	if len(offers) != 1 {
		t.Fatalf("got %d offers, want 1", len(offers))
	}
	got := w.in.Names.ResourceList(offers[0].Resources)
	want := rl("cpu", "3", "memory", "7Gi")
	for k, q := range want {
		if g := got[k]; g.Cmp(q) != 0 {
			t.Errorf("offer %s = %s, want %s", k, g.String(), q.String())
		}
	}
	if !w.in.Frameworks[0].Allocated.Fits(offers[0].Resources) {
		t.Error("the offer was not charged to the framework")
	}
	if !w.in.Agents[0].Free().IsZero() {
		t.Errorf("agent still has %v free after the offer", w.in.Agents[0].Free())
	}
}

func TestWeightInheritance(t *testing.T) {
	ws := map[string]float64{"eng": 2, "eng/batch": 5}
	for role, want := range map[string]float64{"eng": 2, "eng/batch": 5, "eng/web": 2, "eng/web/x": 2, "ops": 1, "*": 1} {
		if got := Weight(ws, role); got != want {
			t.Errorf("Weight(%q) = %v, want %v", role, got, want)
		}
	}
}

func TestAllocatable(t *testing.T) {
	n := NewNames()
	n.Index(corev1.ResourceCPU)
	n.Index(corev1.ResourceMemory)
	min := DefaultMinimum(n)
	cases := map[string]bool{"cpu=10m": true, "cpu=9m": false, "memory=32Mi": true, "memory=31Mi": false, "cpu=9m,memory=32Mi": true}
	for spec, want := range cases {
		var pairs []string
		for _, kv := range splitAll(spec) {
			pairs = append(pairs, kv[0], kv[1])
		}
		if got := Allocatable(n.Vector(rl(pairs...)), min); got != want {
			t.Errorf("Allocatable(%s) = %v, want %v", spec, got, want)
		}
	}
	if !Allocatable(Vector{0, 0, 1}, Vector{}) {
		t.Error("with no minimum a positive extended resource is allocatable")
	}
}

func splitAll(spec string) [][2]string {
	var out [][2]string
	for _, kv := range splitOn(spec, ',') {
		p := splitOn(kv, '=')
		out = append(out, [2]string{p[0], p[1]})
	}
	return out
}

func splitOn(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func TestVectorRoundTrip(t *testing.T) {
	n := NewNames()
	in := rl("cpu", "1500m", "memory", "3Gi", "example.com/gpu", "2")
	out := n.ResourceList(n.Vector(in))
	for k, q := range in {
		if g := out[k]; g.Cmp(q) != 0 {
			t.Errorf("%s: %s -> %s", k, q.String(), g.String())
		}
	}
}

// benchWorld builds agents × frameworks, each agent with 4 cpu and 8Gi.
func benchWorld(agents, frameworks int) *Input {
	n := NewNames()
	total := n.Vector(rl("cpu", "4", "memory", "8Gi"))
	in := &Input{Names: n, Minimum: DefaultMinimum(n)}
	for a := 0; a < agents; a++ {
		in.Agents = append(in.Agents, Agent{ID: fmt.Sprintf("agent-%05d", a), Total: total})
	}
	for f := 0; f < frameworks; f++ {
		in.Frameworks = append(in.Frameworks, Framework{Key: fmt.Sprintf("ns/fw-%04d", f), Role: fmt.Sprintf("role-%d", f%10), Eligible: true, Allocated: n.Zero()})
	}
	return in
}

func resetCycle(in *Input) {
	for i := range in.Agents {
		in.Agents[i].Offered = nil
	}
	for i := range in.Frameworks {
		in.Frameworks[i].Allocated = in.Names.Zero()
	}
}

// BenchmarkAllocate1000Agents10Frameworks is one cycle that offers every
// agent of 1,000 to one of 10 frameworks.
func BenchmarkAllocate1000Agents10Frameworks(b *testing.B) {
	in := benchWorld(1000, 10)
	b.ReportAllocs()
	for b.Loop() {
		resetCycle(in)
		if got := len(Allocate(in)); got != 1000 {
			b.Fatalf("%d offers, want 1000", got)
		}
	}
}

// BenchmarkAllocate10000Agents1000FrameworksDeclined is the shape of Mesos's
// own allocator benchmark (DeclineOffers): 10,000 agents and 1,000
// frameworks, each of which has declined every agent, so the cycle must
// consider every pair and make no offer. Mesos 1.8 needed about 1.1 s.
func BenchmarkAllocate10000Agents1000FrameworksDeclined(b *testing.B) {
	in := benchWorld(10000, 1000)
	in.Blocked = make([]Bitset, len(in.Agents))
	for a := range in.Agents {
		for f := range in.Frameworks {
			in.Blocked[a].Set(f)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if got := len(Allocate(in)); got != 0 {
			b.Fatalf("%d offers, want 0", got)
		}
	}
}

func TestBitset(t *testing.T) {
	var a, b Bitset
	a.Set(3)
	a.Set(130)
	if !a.Has(3) || !a.Has(130) || a.Has(4) || a.Has(1000) {
		t.Errorf("membership wrong: %v", a)
	}
	b.Set(3)
	if !a.AnyNotIn(b) {
		t.Error("130 is in a but not in b")
	}
	b.Set(130)
	if a.AnyNotIn(b) {
		t.Error("a is a subset of b")
	}
	if !a.AnyNotIn(nil) || Bitset(nil).AnyNotIn(a) {
		t.Error("nil sets")
	}
}

func TestDominantSharesCountTasksAndOffers(t *testing.T) {
	names := NewNames()
	cpu, mem := names.Index(corev1.ResourceCPU), names.Index(corev1.ResourceMemory)
	vec := func(c, m int64) Vector {
		v := names.Zero()
		v[cpu], v[mem] = c, m
		return v
	}
	in := &Input{Names: names,
		Agents: []Agent{{ID: "a", Total: vec(4000, 8<<30)}, {ID: "b", Total: vec(4000, 8<<30)}},
		Frameworks: []Framework{
			{Key: "ns/tasks", Allocated: vec(2000, 1<<30)}, // 2 of 8 cpu
			{Key: "ns/memory", Allocated: vec(0, 4<<30)},   // 4 of 16 GiB
			{Key: "ns/none", Allocated: names.Zero()},
		}}
	got := in.DominantShares()
	want := []float64{0.25, 0.25, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: share %v, want %v", in.Frameworks[i].Key, got[i], want[i])
		}
	}
}

// TestParseWeight: a role's weight is a finite positive number.
func TestParseWeight(t *testing.T) {
	for in, want := range map[string]float64{"3": 3, " 0.5 ": 0.5, "1e3": 1000} {
		if got, err := ParseWeight("r", in); err != nil || got != want {
			t.Errorf("ParseWeight(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "NaN", "Inf", "+Inf", "1e400", "x"} {
		if got, err := ParseWeight("r", in); err == nil {
			t.Errorf("ParseWeight(%q) = %v, want an error", in, got)
		}
	}
}

// TestAmountsNeverOverflow: a quantity beyond MaxAmount (a tenant's
// cpu: 17446744073709551, whose millicores wrap int64 to a negative
// number) counts as MaxAmount, so that no sum of a cycle turns negative
// and no check skips it as nothing.
func TestAmountsNeverOverflow(t *testing.T) {
	n := NewNames()
	huge := builders.Resources("cpu", "17446744073709551", "memory", "20E").Core()
	v := n.Vector(huge)
	for i, x := range v {
		if x != MaxAmount {
			t.Errorf("%s: amount %d, want MaxAmount", n.Name(i), x)
		}
	}
	if !TooLarge(corev1.ResourceCPU, huge[corev1.ResourceCPU]) || TooLarge(corev1.ResourceCPU, builders.Resources("cpu", "1000000000000")[corev1.ResourceCPU]) {
		t.Error("TooLarge: want cpu beyond 10^12 cores too large, and 10^12 cores not")
	}
	node := n.Vector(builders.Resources("cpu", "8", "memory", "8Gi").Core())
	if node.Fits(v) {
		t.Error("a node of 8 cpus fits a task of MaxAmount")
	}
	sum := n.Zero()
	for range 9000 {
		sum = sum.Add(v)
	}
	for i, x := range sum {
		if x <= 0 {
			t.Errorf("%s: 9000 MaxAmounts sum to %d", n.Name(i), x)
		}
	}
}

// TestZeroQuantitiesTakeNoName: a name of a zero quantity enters no
// table, and Unknown names the first positive quantity the table lacks.
func TestZeroQuantitiesTakeNoName(t *testing.T) {
	n := NewNames()
	n.Vector(builders.Resources("cpu", "1").Core())
	v := n.Vector(builders.Resources("cpu", "2", "x.io/none", "0").Core())
	if n.Len() != 1 || len(v) != 1 || v[0] != 2000 {
		t.Errorf("table %d names, vector %v; want only cpu, 2000", n.Len(), v)
	}
	if name, ok := n.Unknown(builders.Resources("cpu", "1", "x.io/none", "0").Core()); ok {
		t.Errorf("Unknown names %s of a zero quantity", name)
	}
	if name, ok := n.Unknown(builders.Resources("cpu", "1", "x.io/gpu", "1").Core()); !ok || name != "x.io/gpu" {
		t.Errorf("Unknown = %s, %v; want x.io/gpu", name, ok)
	}
}
