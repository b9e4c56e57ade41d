package kubectlmesos

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/goldenfile"
)

// checkText compares text output with its golden file and checks that it
// fits Width columns.
func checkText(t *testing.T, name string, out []byte) {
	t.Helper()
	for i, line := range strings.Split(string(out), "\n") {
		if len([]rune(line)) > Width {
			t.Errorf("%s line %d is %d columns wide, more than %d: %q", name, i+1, len([]rune(line)), Width, line)
		}
	}
	goldenfile.Check(t, filepath.Join("testdata", name), out)
}

func starvedTaskFacts() TaskFacts {
	f := stagedTask()
	f.Pod = pod("me-exec-1-3f9a2", corev1.PodPending)
	f.Pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "executor", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
		Reason: "ImagePullBackOff", Message: `Back-off pulling image "example/executor:1"`}}}}
	f.Events = []corev1.Event{{InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: f.Pod.Name}, Type: corev1.EventTypeWarning,
		Reason: "Failed", Message: `Failed to pull image "example/executor:1": not found`, LastTimestamp: ago(30 * time.Second)}}
	return f
}

func TestGoldenText(t *testing.T) {
	ff, cf := starvedWorld()
	var offers []kmv1.Offer
	offers = append(offers, offer("batch-n1-x7k2p", "team", "batch", "n1", 40*time.Second, "cpu", "500m", "memory", "2Gi"),
		offer("etl-n2-q8w3e", "data", "etl", "n2", 3*time.Minute, "memory", "2Gi"))
	for _, tc := range []struct {
		name  string
		print func(w *bytes.Buffer) error
	}{
		{"status.txt", func(w *bytes.Buffer) error { return PrintStatus(w, BuildStatus(cf)) }},
		{"why-framework.txt", func(w *bytes.Buffer) error { return PrintExplanation(w, ExplainFramework(ff)) }},
		{"why-task.txt", func(w *bytes.Buffer) error { return PrintExplanation(w, ExplainTask(starvedTaskFacts())) }},
		{"offers-all.txt", func(w *bytes.Buffer) error { return PrintOffers(w, BuildOffers(offers, now), true, false, now) }},
		{"offers-wide.txt", func(w *bytes.Buffer) error { return PrintOffers(w, BuildOffers(offers[:1], now), false, true, now) }},
		{"top-all.txt", func(w *bytes.Buffer) error { return PrintTop(w, BuildTop(cf), true) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.print(&b); err != nil {
				t.Fatal(err)
			}
			checkText(t, tc.name, b.Bytes())
		})
	}
}

// TestJSONShape pins the documented JSON of -o json, and checks that -o
// yaml carries the same document.
func TestJSONShape(t *testing.T) {
	ff, cf := starvedWorld()
	for name, doc := range map[string]any{
		"why-framework.json": ExplainFramework(ff),
		"why-task.json":      ExplainTask(starvedTaskFacts()),
		"status.json":        BuildStatus(cf),
		"top.json":           BuildTop(cf),
		"offers.json":        BuildOffers([]kmv1.Offer{offer("batch-n1-x7k2p", "team", "batch", "n1", 40*time.Second, "cpu", "500m")}, now),
	} {
		t.Run(name, func(t *testing.T) {
			var js, ys bytes.Buffer
			if _, err := printDocument(&js, OutputJSON, doc); err != nil {
				t.Fatal(err)
			}
			goldenfile.Check(t, filepath.Join("testdata", name), js.Bytes())
			if _, err := printDocument(&ys, OutputYAML, doc); err != nil {
				t.Fatal(err)
			}
			var fromJSON, fromYAML map[string]any
			if err := json.Unmarshal(js.Bytes(), &fromJSON); err != nil {
				t.Fatal(err)
			}
			if err := yaml.Unmarshal(ys.Bytes(), &fromYAML); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(fromJSON, fromYAML); diff != "" {
				t.Errorf("YAML differs from JSON (-json +yaml):\n%s", diff)
			}
			if fromJSON["apiVersion"] != APIVersion {
				t.Errorf("apiVersion = %v, want %s", fromJSON["apiVersion"], APIVersion)
			}
		})
	}
}

func TestWrap(t *testing.T) {
	got := wrap("one two three four", "1. ", "   ", 12)
	want := "1. one two\n   three\n   four\n"
	if got != want {
		t.Errorf("wrap = %q, want %q", got, want)
	}
	long := strings.Repeat("x", 100)
	if got := wrap(long, "- ", "  ", 80); got != "- "+long+"\n" {
		t.Errorf("a long word is cut: %q", got)
	}
}

func TestValidOutput(t *testing.T) {
	for _, o := range []string{"", "wide", "json", "yaml"} {
		if err := validOutput(o); err != nil {
			t.Errorf("validOutput(%q) = %v", o, err)
		}
	}
	if err := validOutput("xml"); err == nil || !strings.Contains(err.Error(), "-o json") {
		t.Errorf("validOutput(xml) = %v, want an error that names the formats", err)
	}
}
