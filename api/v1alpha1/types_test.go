package v1alpha1

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestTaskStateOrder(t *testing.T) {
	live := []TaskState{TaskStaging, TaskStarting, TaskRunning, TaskKilling}
	terminal := []TaskState{TaskFinished, TaskFailed, TaskKilled, TaskError, TaskLost, TaskDropped}
	for i, s := range live {
		if s.IsTerminal() {
			t.Errorf("%s is live but IsTerminal says terminal", s)
		}
		if s.Rank() != i {
			t.Errorf("%s has rank %d, want %d", s, s.Rank(), i)
		}
	}
	for _, s := range terminal {
		if !s.IsTerminal() {
			t.Errorf("%s is terminal but IsTerminal says live", s)
		}
		if s.Rank() <= TaskKilling.Rank() {
			t.Errorf("terminal %s ranks %d, not above the live states", s, s.Rank())
		}
	}
	if TaskState("").Rank() >= TaskStaging.Rank() {
		t.Error("the empty state must rank below TASK_STAGING")
	}
}

// TestConstantsMatchCRDs keeps the Go constants and the generated CRDs in
// step: the markers cannot reference constants, so this test does.
func TestConstantsMatchCRDs(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	fw := read("kubemesos.io_frameworks.yaml")
	if !strings.Contains(fw, "pattern: "+RolePattern) {
		t.Errorf("the Framework CRD's role pattern differs from RolePattern %s", RolePattern)
	}
	if _, err := regexp.Compile(RolePattern); err != nil {
		t.Errorf("RolePattern does not compile: %v", err)
	}
	tasks := read("kubemesos.io_tasks.yaml")
	for _, s := range []TaskState{TaskStaging, TaskStarting, TaskRunning, TaskKilling, TaskFinished, TaskFailed, TaskKilled, TaskError, TaskLost, TaskDropped} {
		if !strings.Contains(tasks, "- "+string(s)+"\n") {
			t.Errorf("the Task CRD's state enum lacks %s", s)
		}
	}
	for _, p := range []FrameworkPhase{FrameworkPending, FrameworkActive, FrameworkDisconnected, FrameworkCompleted, FrameworkFailed, FrameworkTearingDown} {
		if !strings.Contains(fw, "- "+string(p)+"\n") {
			t.Errorf("the Framework CRD's phase enum lacks %s", p)
		}
	}
}

func TestRolePattern(t *testing.T) {
	re := regexp.MustCompile(RolePattern)
	for _, ok := range []string{"*", "batch", "eng/batch", "a-b/c-d/e"} {
		if !re.MatchString(ok) {
			t.Errorf("role %q refused", ok)
		}
	}
	for _, bad := range []string{"", "Batch", "eng/", "/eng", "-x", "a b", "**", "eng//batch"} {
		if re.MatchString(bad) {
			t.Errorf("role %q accepted", bad)
		}
	}
}

// TestLaunchTasks: the launch size that SetLaunchTasks records is the one
// LaunchTasks reads back, other annotations kept; a value that is no count
// from 1 to MaxLaunchTasks reads as none.
func TestLaunchTasks(t *testing.T) {
	a := SetLaunchTasks(map[string]string{"other": "x"}, 7)
	if got := LaunchTasks(a); got != 7 || a["other"] != "x" {
		t.Errorf("SetLaunchTasks(7): %v reads %d, want 7 and the other annotation kept", a, got)
	}
	if got := LaunchTasks(SetLaunchTasks(nil, MaxLaunchTasks)); got != MaxLaunchTasks {
		t.Errorf("a nil map set to %d reads %d", MaxLaunchTasks, got)
	}
	for _, bad := range []string{"", "0", "-1", "4097", "two", "1.5"} {
		if got := LaunchTasks(map[string]string{AnnotationLaunchTasks: bad}); got != 0 {
			t.Errorf("launch size %q reads %d, want 0", bad, got)
		}
	}
}
