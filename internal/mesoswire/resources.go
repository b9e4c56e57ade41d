package mesoswire

import (
	"math"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/portrange"
)

// Mesos resource names and the Kubernetes resources they stand for.
const (
	// ResourceCPUs is cores, from cpu.
	ResourceCPUs = "cpus"
	// ResourceMem is MB (MiB), from memory.
	ResourceMem = "mem"
	// ResourceDisk is MB (MiB), from ephemeral-storage.
	ResourceDisk = "disk"
	// ResourceGPUs is whole GPUs, from ResourceNvidiaGPU.
	ResourceGPUs = "gpus"
	// ResourceNvidiaGPU is the extended resource offered as gpus.
	ResourceNvidiaGPU corev1.ResourceName = "nvidia.com/gpu"
	// ResourcePorts is port ranges, from an Agent's spec.ports; the
	// allocator counts them as kmv1.ResourcePorts.
	ResourcePorts = "ports"
	// mebibyte is Mesos's MB.
	mebibyte = 1 << 20
)

// PortsResource is ports as the Mesos resource `ports` of role, or nil
// when there are none.
func PortsResource(ports portrange.Set, role string) *mesosv1.Resource {
	if len(ports) == 0 {
		return nil
	}
	rs := make([]*mesosv1.Value_Range, 0, len(ports))
	for _, r := range ports {
		rs = append(rs, &mesosv1.Value_Range{Begin: ptr.To(r.Begin), End: ptr.To(r.End)})
	}
	return &mesosv1.Resource{Name: ptr.To(ResourcePorts), Type: mesosv1.Value_RANGES.Enum(),
		Ranges:         &mesosv1.Value_Ranges{Range: rs},
		AllocationInfo: &mesosv1.Resource_AllocationInfo{Role: ptr.To(role)}}
}

// MesosResources turns a ResourceList into Mesos scalar resources of role:
// cpus in cores, mem and disk in MB (MiB), gpus. Other resources are not
// offered through the Mesos API as scalars: kmv1.ResourcePorts only counts
// the ranges of PortsResource.
func MesosResources(rl kmv1.ResourceList, role string) []*mesosv1.Resource {
	var out []*mesosv1.Resource
	add := func(name string, v float64) {
		if v <= 0 {
			return
		}
		out = append(out, &mesosv1.Resource{Name: ptr.To(name), Type: mesosv1.Value_SCALAR.Enum(),
			Scalar:         &mesosv1.Value_Scalar{Value: ptr.To(roundScalar(v))},
			AllocationInfo: &mesosv1.Resource_AllocationInfo{Role: ptr.To(role)}})
	}
	if q, ok := rl[corev1.ResourceCPU]; ok {
		add(ResourceCPUs, float64(q.MilliValue())/1000)
	}
	if q, ok := rl[corev1.ResourceMemory]; ok {
		add(ResourceMem, float64(q.Value())/mebibyte)
	}
	if q, ok := rl[corev1.ResourceEphemeralStorage]; ok {
		add(ResourceDisk, float64(q.Value())/mebibyte)
	}
	if q, ok := rl[ResourceNvidiaGPU]; ok {
		add(ResourceGPUs, float64(q.Value()))
	}
	return out
}

// roundScalar keeps three decimals, as Mesos does with scalar values
// (rounded down, so that nothing more than what exists is offered).
func roundScalar(v float64) float64 { return math.Floor(v*1000) / 1000 }

// KubernetesResources turns Mesos resources into a ResourceList, summing
// repeated names: the scalars, and `ports` as the count of its ranges'
// ports (kmv1.ResourcePorts; PortsOf gives the ranges). Unknown names are
// returned.
func KubernetesResources(rs []*mesosv1.Resource) (kmv1.ResourceList, []string) {
	out := kmv1.ResourceList{}
	var unknown []string
	add := func(name corev1.ResourceName, q resource.Quantity) {
		cur := out[name]
		cur.Add(q)
		out[name] = cur
	}
	for _, r := range rs {
		v := r.GetScalar().GetValue()
		switch r.GetName() {
		case ResourceCPUs:
			add(corev1.ResourceCPU, *resource.NewMilliQuantity(roundInt64(v*1000), resource.DecimalSI))
		case ResourceMem:
			add(corev1.ResourceMemory, *resource.NewQuantity(roundInt64(v*mebibyte), resource.BinarySI))
		case ResourceDisk:
			add(corev1.ResourceEphemeralStorage, *resource.NewQuantity(roundInt64(v*mebibyte), resource.BinarySI))
		case ResourceGPUs:
			add(ResourceNvidiaGPU, *resource.NewQuantity(roundInt64(v), resource.DecimalSI))
		case ResourcePorts:
		default:
			unknown = append(unknown, r.GetName())
		}
	}
	if n := PortsOf(rs).Count(); n > 0 {
		out[kmv1.ResourcePorts] = *resource.NewQuantity(int64(min(n, math.MaxInt64)), resource.DecimalSI)
	}
	return out, unknown
}

// PortsOf is the ranges of the `ports` resources of rs.
func PortsOf(rs []*mesosv1.Resource) portrange.Set {
	var out []portrange.Range
	for _, r := range rs {
		if r.GetName() == ResourcePorts {
			out = append(out, RangesOf(r)...)
		}
	}
	return portrange.Normalize(out)
}

// RangesOf is the ranges of one resource, as they are.
func RangesOf(r *mesosv1.Resource) []portrange.Range {
	var out []portrange.Range
	for _, x := range r.GetRanges().GetRange() {
		out = append(out, portrange.Range{Begin: x.GetBegin(), End: x.GetEnd()})
	}
	return out
}

// roundInt64 rounds f to the nearest int64, saturating at the int64 bounds
// (NaN is 0): a scalar too large for its unit stays too large, for
// admission to refuse with its own message, and never wraps to a negative
// quantity, whatever the machine's float conversion does.
func roundInt64(f float64) int64 {
	switch r := math.Round(f); {
	case math.IsNaN(r):
		return 0
	case r >= math.MaxInt64:
		return math.MaxInt64
	case r <= math.MinInt64:
		return math.MinInt64
	default:
		return int64(r)
	}
}
