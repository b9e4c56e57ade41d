// Package resources has the ResourceList arithmetic that the master and the
// agent share: sums, differences and fit checks over any resource names.
package resources

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Add returns a + b. Neither argument is changed.
func Add(a, b corev1.ResourceList) corev1.ResourceList {
	return combine(a, b, func(q *resource.Quantity, o resource.Quantity) { q.Add(o) })
}

// Sub returns a − b, which may be negative. Neither argument is changed.
func Sub(a, b corev1.ResourceList) corev1.ResourceList {
	return combine(a, b, func(q *resource.Quantity, o resource.Quantity) { q.Sub(o) })
}

// combine applies op to a copy of a with each quantity of b.
func combine(a, b corev1.ResourceList, op func(*resource.Quantity, resource.Quantity)) corev1.ResourceList {
	out := a.DeepCopy()
	if out == nil {
		out = corev1.ResourceList{}
	}
	for k, q := range b {
		cur := out[k]
		op(&cur, q)
		out[k] = cur
	}
	return out
}

// Shortfall lists the resources of need that have exceeds, as
// "cpu: need 2, have 1500m", sorted by name. It is empty when need fits.
func Shortfall(need, have corev1.ResourceList) []string {
	var out []string
	for k, q := range need {
		h := have[k]
		if q.Cmp(h) > 0 {
			out = append(out, fmt.Sprintf("%s: need %s, have %s", k, q.String(), h.String()))
		}
	}
	sort.Strings(out)
	return out
}

// Fits reports whether every amount of need is covered by have.
func Fits(need, have corev1.ResourceList) bool { return len(Shortfall(need, have)) == 0 }

// IsZero reports whether every amount is zero or less.
func IsZero(rl corev1.ResourceList) bool {
	for _, q := range rl {
		if q.Sign() > 0 {
			return false
		}
	}
	return true
}

// String formats rl as "cpu=1,memory=128Mi", sorted by name.
func String(rl corev1.ResourceList) string {
	parts := make([]string, 0, len(rl))
	for k, q := range rl {
		parts = append(parts, string(k)+"="+q.String())
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
