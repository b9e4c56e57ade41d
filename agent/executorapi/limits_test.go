package executorapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestLimitsAreTheCRDs: the executor API refuses what the Task CRD cannot
// store, with the CRD's own numbers.
func TestLimitsAreTheCRDs(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "kubemesos.io_tasks.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	get := func(path string) any {
		var cur any = crd
		for _, k := range strings.Split(path, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("%s: no %s", path, k)
			}
			cur = m[k]
		}
		return cur
	}
	versions := get("spec.versions").([]any)
	status := versions[0].(map[string]any)["schema"].(map[string]any)["openAPIV3Schema"].(map[string]any)["properties"].(map[string]any)["status"].(map[string]any)["properties"].(map[string]any)
	for field, want := range map[string]int{"message": MaxMessageLength, "data": MaxDataLength, "reason": MaxReasonLength} {
		got, _ := status[field].(map[string]any)["maxLength"].(float64)
		if int(got) != want {
			t.Errorf("status.%s: the CRD's maxLength is %v, the executor API's limit %d", field, got, want)
		}
	}
	if p, _ := status["reason"].(map[string]any)["pattern"].(string); p != reasonPattern.String() {
		t.Errorf("status.reason: the CRD's pattern is %q, the executor API's %q", p, reasonPattern)
	}
	if MaxCallBytes < MaxDataLength+MaxMessageLength+MaxTaskIDLength+MaxUUIDLength+MaxReasonLength {
		t.Errorf("a call of %d bytes cannot carry the largest valid update", MaxCallBytes)
	}
}

func TestStatusLimits(t *testing.T) {
	ok := TaskStatus{TaskID: "t", State: "TASK_RUNNING", UUID: "u"}
	for name, mutate := range map[string]func(*TaskStatus){
		"data":    func(s *TaskStatus) { s.Data = strings.Repeat("d", MaxDataLength+1) },
		"message": func(s *TaskStatus) { s.Message = strings.Repeat("m", MaxMessageLength+1) },
		"reason":  func(s *TaskStatus) { s.Reason = "REASON_lower" },
		"task_id": func(s *TaskStatus) { s.TaskID = strings.Repeat("t", MaxTaskIDLength+1) },
		"uuid":    func(s *TaskStatus) { s.UUID = strings.Repeat("u", MaxUUIDLength+1) },
	} {
		s := ok
		mutate(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s over the limit: %v", name, err)
		}
	}
	full := ok
	full.Data, full.Message, full.Reason = strings.Repeat("d", MaxDataLength), strings.Repeat("m", MaxMessageLength), "REASON_COMMAND_EXECUTOR_FAILED"
	if err := full.Validate(); err != nil {
		t.Errorf("an update at the limits refused: %v", err)
	}
}
