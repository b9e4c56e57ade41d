package mesosjson

import (
	"fmt"
	"testing"
)

// benchMessage is an All with 100 repeated nested entries, about the shape
// of an OFFERS event with many offers.
func benchMessage(b *testing.B) []byte {
	m := newAll()
	for i := range 100 {
		in := addInner(b, m, "inners", fmt.Sprintf("entry-%03d-a-typical-identifier", i))
		set(b, in, "n", int32(i))
	}
	set(b, m, "s", "framework")
	for i := range 100 {
		add(b, m, "ds", float64(i)*0.25)
	}
	out, err := Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

func BenchmarkMarshal100(b *testing.B) {
	m := newAll()
	if err := Unmarshal(benchMessage(b), m); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshal100(b *testing.B) {
	in := benchMessage(b)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Unmarshal(in, newAll()); err != nil {
			b.Fatal(err)
		}
	}
}
