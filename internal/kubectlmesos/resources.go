package kubectlmesos

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kubemesos/kubemesos/controllers/allocator"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/duration"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// add returns a + b as a new list.
func add(a, b kmv1.ResourceList) kmv1.ResourceList {
	out := kmv1.ResourceList{}
	for n, q := range a {
		out[n] = q.DeepCopy()
	}
	for n, q := range b {
		sum := out[n]
		sum.Add(q)
		out[n] = sum
	}
	return out
}

// subClamped returns a − b as a new list, no amount below zero.
func subClamped(a, b kmv1.ResourceList) kmv1.ResourceList {
	out := kmv1.ResourceList{}
	for n, q := range a {
		d := q.DeepCopy()
		if s, ok := b[n]; ok {
			d.Sub(s)
		}
		if d.Sign() < 0 {
			d = *resource.NewQuantity(0, q.Format)
		}
		out[n] = d
	}
	return out
}

// freeOf returns an agent's free resources as the master counts them:
// spec.resources − spec.held − status.allocated − status.offered.
func freeOf(a *kmv1.Agent) kmv1.ResourceList {
	return subClamped(subClamped(subClamped(a.Spec.Resources, a.Spec.Held), a.Status.Allocated), a.Status.Offered)
}

// minimumFree is what the master needs free on an agent to offer it: at
// least one of 10m cpu or 32Mi memory, as Mesos.
var minimumFree = kmv1.ResourceList{
	corev1.ResourceCPU:    resource.MustParse("10m"),
	corev1.ResourceMemory: resource.MustParse("32Mi"),
}

// allocatable reports whether free holds one of minimumFree's amounts.
func allocatable(free kmv1.ResourceList) bool {
	for n, m := range minimumFree {
		if q, ok := free[n]; ok && q.Cmp(m) >= 0 {
			return true
		}
	}
	return false
}

// shortfall returns what free lacks of ask, only the amounts that fall
// short, and how far it falls short in all: the sum over those resources of
// the missing part of ask (0 when free holds ask).
func shortfall(ask, free kmv1.ResourceList) (kmv1.ResourceList, float64) {
	missing := kmv1.ResourceList{}
	gap := 0.0
	for n, want := range ask {
		have := free[n]
		if have.Cmp(want) >= 0 {
			continue
		}
		d := want.DeepCopy()
		d.Sub(have)
		missing[n] = d
		if w := want.AsApproximateFloat64(); w > 0 {
			gap += d.AsApproximateFloat64() / w
		}
	}
	return missing, gap
}

// formatResources prints a list as "cpu 2, memory 1Gi", cpu and memory
// first and the rest by name; "nothing" when empty.
func formatResources(r kmv1.ResourceList) string {
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, string(n))
	}
	slices.SortFunc(names, func(a, b string) int {
		if ra, rb := resourceRank(a), resourceRank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, 0, len(names))
	for _, n := range names {
		q := r[corev1.ResourceName(n)]
		parts = append(parts, n+" "+q.String())
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

func resourceRank(n string) int {
	switch corev1.ResourceName(n) {
	case corev1.ResourceCPU:
		return 0
	case corev1.ResourceMemory:
		return 1
	}
	return 2
}

// quantity prints one amount of r, "-" when absent.
func quantity(r kmv1.ResourceList, n corev1.ResourceName) string {
	q, ok := r[n]
	if !ok {
		return "-"
	}
	return q.String()
}

// fraction returns part/whole of resource n, 0 when whole has none.
func fraction(part, whole kmv1.ResourceList, n corev1.ResourceName) float64 {
	w, ok := whole[n]
	if !ok || w.Sign() <= 0 {
		return 0
	}
	p := part[n]
	return p.AsApproximateFloat64() / w.AsApproximateFloat64()
}

// parseShare reads a Framework's status.dominantShare; 0 when unset or
// malformed.
func parseShare(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 {
		return 0
	}
	return f
}

// age prints how long ago t was, as kubectl does ("5m", "2d3h").
func age(now, t time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t))
}

// ParseRoleWeights reads role weights as the master's --role-weights takes
// them: role=weight pairs joined by commas, each weight a positive finite
// number, such as "prod=3,dev=1".
func ParseRoleWeights(s string) (map[string]float64, error) {
	out := map[string]float64{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, pair := range strings.Split(s, ",") {
		role, w, ok := strings.Cut(pair, "=")
		role = strings.TrimSpace(role)
		if !ok || role == "" {
			return nil, fmt.Errorf("role weight %q: want role=weight, such as prod=3", pair)
		}
		f, err := allocator.ParseWeight(role, w)
		if err != nil {
			return nil, fmt.Errorf("role weight %q: %w", pair, err)
		}
		out[role] = f
	}
	return out, nil
}
