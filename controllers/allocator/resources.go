package allocator

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Vector is a set of resource amounts, indexed by a Names table: cpu in
// millicores, every other resource in its base unit (memory in bytes,
// extended resources in units). Plain integers keep a cycle over ten thousand
// agents free of Quantity arithmetic.
type Vector []int64

// Names maps resource names to Vector indexes. One table serves one cycle.
type Names struct {
	index map[corev1.ResourceName]int
	names []corev1.ResourceName
}

// NewNames returns an empty table.
func NewNames() *Names { return &Names{index: map[corev1.ResourceName]int{}} }

// Len returns the number of names.
func (n *Names) Len() int { return len(n.names) }

// Name returns the name at index i.
func (n *Names) Name(i int) corev1.ResourceName { return n.names[i] }

// Index returns the index of name, adding it when new.
func (n *Names) Index(name corev1.ResourceName) int {
	if i, ok := n.index[name]; ok {
		return i
	}
	n.index[name] = len(n.names)
	n.names = append(n.names, name)
	return len(n.names) - 1
}

// Lookup returns the index of name, or -1.
func (n *Names) Lookup(name corev1.ResourceName) int {
	if i, ok := n.index[name]; ok {
		return i
	}
	return -1
}

// Vector converts a ResourceList, adding its names to the table (a name of
// a zero quantity only when the table has it already: it takes nothing).
// Call it for every list of a cycle before using Zero, so that vectors
// have equal length.
func (n *Names) Vector(rl corev1.ResourceList) Vector {
	keys := make([]string, 0, len(rl))
	for k, q := range rl {
		if !q.IsZero() {
			keys = append(keys, string(k))
		}
	}
	sort.Strings(keys) // stable index order for equal inputs
	for _, k := range keys {
		n.Index(corev1.ResourceName(k))
	}
	v := make(Vector, len(n.names))
	for k, q := range rl {
		if i, ok := n.index[k]; ok {
			v[i] = amount(k, q)
		}
	}
	return v
}

// Unknown returns a name of rl with a positive quantity that the table
// does not have, and false when there is none. A cache whose table holds
// what its agents offer can refuse a list that needs something else before
// its names enter the table, which would then grow with whatever names
// its callers make up.
func (n *Names) Unknown(rl corev1.ResourceList) (corev1.ResourceName, bool) {
	for k, q := range rl {
		if _, ok := n.index[k]; !ok && q.Sign() > 0 {
			return k, true
		}
	}
	return "", false
}

// Zero returns a zero vector of the table's length.
func (n *Names) Zero() Vector { return make(Vector, len(n.names)) }

// ResourceList converts v back, leaving out zero amounts.
func (n *Names) ResourceList(v Vector) corev1.ResourceList {
	rl := corev1.ResourceList{}
	for i, m := range v {
		if m == 0 {
			continue
		}
		name := n.names[i]
		if name == corev1.ResourceCPU {
			rl[name] = *resource.NewMilliQuantity(m, resource.DecimalSI)
		} else {
			rl[name] = *resource.NewQuantity(m, resource.BinarySI)
		}
	}
	return rl
}

// MaxAmount is the most of one resource that a Vector holds: 10^15
// millicores of cpu, or 10^15 of any other resource's base unit (bytes of
// memory: about 0.9 PiB). No node has more; a larger quantity counts as
// MaxAmount (amount), so that the sums of a cycle stay far from int64's
// bound (9,223 MaxAmounts reach it), where a quantity such as
// cpu: 17446744073709551 made them negative.
// Admission refuses a task that asks for more (TooLarge).
const MaxAmount int64 = 1_000_000_000_000_000

// amount is the Vector form of one quantity: millicores for cpu, the
// base unit (rounded up) for everything else, at most MaxAmount.
func amount(name corev1.ResourceName, q resource.Quantity) int64 {
	if TooLarge(name, q) {
		return MaxAmount
	}
	if name == corev1.ResourceCPU {
		return q.MilliValue()
	}
	return q.Value()
}

// MaxQuantity is MaxAmount as a quantity of resource name: 10^12 cores
// of cpu, 10^15 of anything else.
func MaxQuantity(name corev1.ResourceName) resource.Quantity {
	if name == corev1.ResourceCPU {
		return *resource.NewMilliQuantity(MaxAmount, resource.DecimalSI)
	}
	return *resource.NewQuantity(MaxAmount, resource.DecimalSI)
}

// TooLarge reports whether quantity q of resource name is more than a
// Vector holds (MaxQuantity).
func TooLarge(name corev1.ResourceName, q resource.Quantity) bool {
	limit := MaxQuantity(name)
	return q.Cmp(limit) > 0
}

// grow pads v to length l with zeros.
func (v Vector) grow(l int) Vector {
	for len(v) < l {
		v = append(v, 0)
	}
	return v
}

// Add adds o to v in place, growing v when needed, and returns v.
func (v Vector) Add(o Vector) Vector {
	v = v.grow(len(o))
	for i, x := range o {
		v[i] += x
	}
	return v
}

// Sub subtracts o from v in place, growing v when needed, and returns v.
func (v Vector) Sub(o Vector) Vector {
	v = v.grow(len(o))
	for i, x := range o {
		v[i] -= x
	}
	return v
}

// ClampZero raises negative amounts to zero.
func (v Vector) ClampZero() Vector {
	for i, x := range v {
		if x < 0 {
			v[i] = 0
		}
	}
	return v
}

// Fits reports whether every amount of need is covered by v.
func (v Vector) Fits(need Vector) bool {
	for i, x := range need {
		if x <= 0 {
			continue
		}
		if i >= len(v) || v[i] < x {
			return false
		}
	}
	return true
}

// IsZero reports whether every amount is zero or less.
func (v Vector) IsZero() bool {
	for _, x := range v {
		if x > 0 {
			return false
		}
	}
	return true
}

// Clone returns a copy of v.
func (v Vector) Clone() Vector { return append(Vector(nil), v...) }

// Clone returns a copy of the table, for a reader that must not see it
// grow.
func (n *Names) Clone() *Names {
	c := &Names{index: make(map[corev1.ResourceName]int, len(n.index)), names: append([]corev1.ResourceName(nil), n.names...)}
	for k, v := range n.index {
		c.index[k] = v
	}
	return c
}
