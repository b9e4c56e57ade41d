package mesoswire

import (
	"math"
	"testing"

	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
)

// TestHugeScalarsStayHuge: a scalar too large for its unit saturates
// rather than wrapping to a negative quantity, so that admission refuses
// it as more than any node has (not the CRD as negative).
func TestHugeScalarsStayHuge(t *testing.T) {
	scalar := func(name string, v float64) *mesosv1.Resource {
		return &mesosv1.Resource{Name: proto.String(name), Type: mesosv1.Value_SCALAR.Enum(), Scalar: &mesosv1.Value_Scalar{Value: proto.Float64(v)}}
	}
	rl, unknown := KubernetesResources([]*mesosv1.Resource{scalar("cpus", 1e17), scalar("mem", 1e16), scalar("disk", math.Inf(1))})
	if len(unknown) != 0 {
		t.Fatalf("unknown %v", unknown)
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		q, ok := rl[name]
		if !ok || q.Sign() <= 0 {
			t.Errorf("%s = %s, want a large positive quantity", name, q.String())
		}
	}
	for _, tc := range []struct {
		in   float64
		want int64
	}{{1.4, 1}, {-2.6, -3}, {1e19, math.MaxInt64}, {-1e19, math.MinInt64}, {math.NaN(), 0}} {
		if got := roundInt64(tc.in); got != tc.want {
			t.Errorf("roundInt64(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
