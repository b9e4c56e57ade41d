package restconfig

import (
	"testing"

	"k8s.io/client-go/rest"
)

// TestForClusterAsksForUncompressedResponses: the copy turns compression
// off and leaves the caller's config as it was.
func TestForClusterAsksForUncompressedResponses(t *testing.T) {
	in := &rest.Config{Host: "https://api.example", QPS: 5}
	out := ForCluster(in)
	if !out.DisableCompression || out.Host != in.Host || out.QPS != in.QPS {
		t.Errorf("ForCluster gave %+v", out)
	}
	if in.DisableCompression {
		t.Error("ForCluster changed the caller's config")
	}
}
