package allocator

// Bitset is a set of small non-negative integers (framework indexes).
type Bitset []uint64

// Set adds i, growing the set when needed.
func (b *Bitset) Set(i int) {
	w := i / 64
	for len(*b) <= w {
		*b = append(*b, 0)
	}
	(*b)[w] |= 1 << (uint(i) % 64)
}

// Has reports whether i is in the set.
func (b Bitset) Has(i int) bool {
	w := i / 64
	return w < len(b) && b[w]&(1<<(uint(i)%64)) != 0
}

// AnyNotIn reports whether b holds an element that o does not.
func (b Bitset) AnyNotIn(o Bitset) bool {
	for w, x := range b {
		if w < len(o) {
			x &^= o[w]
		}
		if x != 0 {
			return true
		}
	}
	return false
}
