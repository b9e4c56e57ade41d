package resources

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubemesos/kubemesos/internal/builders"
)

// rl builds a ResourceList from name/quantity pairs.
func rl(pairs ...string) corev1.ResourceList { return builders.Resources(pairs...).Core() }

func TestArithmetic(t *testing.T) {
	a := rl("cpu", "2", "memory", "1Gi")
	b := rl("cpu", "500m", "example.com/gpu", "1")
	if got := String(Add(a, b)); got != "cpu=2500m,example.com/gpu=1,memory=1Gi" {
		t.Errorf("Add = %s", got)
	}
	if got := String(Sub(a, b)); got != "cpu=1500m,example.com/gpu=-1,memory=1Gi" {
		t.Errorf("Sub = %s", got)
	}
	if String(a) != "cpu=2,memory=1Gi" {
		t.Error("Add or Sub changed its argument")
	}
	if !IsZero(Sub(a, a)) || IsZero(a) || !IsZero(nil) {
		t.Error("IsZero")
	}
}

func TestShortfall(t *testing.T) {
	have := rl("cpu", "1500m", "memory", "1Gi")
	if d := cmp.Diff([]string{"cpu: need 2, have 1500m", "example.com/gpu: need 1, have 0"}, Shortfall(rl("cpu", "2", "memory", "1Gi", "example.com/gpu", "1"), have)); d != "" {
		t.Errorf("shortfall (-want +got):\n%s", d)
	}
	if !Fits(rl("cpu", "1500m"), have) || Fits(rl("memory", "2Gi"), have) {
		t.Error("Fits")
	}
}
