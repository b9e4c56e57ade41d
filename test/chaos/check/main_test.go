package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubemesos/kubemesos/test/chaos/invariants"
	"github.com/kubemesos/kubemesos/test/chaos/record"
)

var limits = invariants.Limits{AgentRemovalLimit: 10, AgentRemovalPeriod: time.Minute, LeaseDuration: 15 * time.Second}

// TestCheckCleanRun judges the invariants package's recorded failover: a
// clean run, with its master writes.
func TestCheckCleanRun(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join("..", "invariants", "testdata")
	raw, err := os.ReadFile(filepath.Join(src, "failover.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "record.jsonl", raw)
	// writes.json is the array TestChaos writes; the testdata is lines.
	f, err := os.Open(filepath.Join(src, "failover-writes.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var writes []record.Write
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var w record.Write
		if err := json.Unmarshal(sc.Bytes(), &w); err != nil {
			t.Fatal(err)
		}
		writes = append(writes, w)
	}
	arr, _ := json.Marshal(writes)
	write(t, dir, "writes.json", arr)

	var out bytes.Buffer
	n, err := check(dir, limits, &out)
	if err != nil || n != 0 {
		t.Fatalf("a clean run: %d violations, %v\n%s", n, err, out.String())
	}
	if !strings.Contains(out.String(), "| NoWritesWithoutLease |") || !strings.Contains(out.String(), ": 0 violations") {
		t.Errorf("the report lacks its table or summary:\n%s", out.String())
	}
}

// TestCheckFindsAViolation: a task state that goes backwards, and no
// writes.json (a run stopped before its check).
func TestCheckFindsAViolation(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	var rec bytes.Buffer
	for i, state := range []string{"TASK_RUNNING", "TASK_STAGING"} {
		e := record.Entry{At: at.Add(time.Duration(i) * time.Second), Kind: record.KindTask, Type: "MODIFIED", Namespace: "ns", Name: "t",
			ResourceVersion: []string{"10", "11"}[i], UID: "u1", Task: &record.Task{Framework: "fw", State: state, AgentID: "a1"}}
		raw, _ := json.Marshal(e)
		rec.Write(append(raw, '\n'))
	}
	write(t, dir, "record.jsonl", rec.Bytes())
	var out bytes.Buffer
	n, err := check(dir, limits, &out)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || !strings.Contains(out.String(), "TaskStatesForward") || !strings.Contains(out.String(), "no writes.json") {
		t.Errorf("%d violations:\n%s", n, out.String())
	}
	if _, err := check(t.TempDir(), limits, &out); err == nil {
		t.Error("a directory without record.jsonl was judged")
	}
}

func write(t *testing.T, dir, name string, raw []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), raw, 0o644); err != nil {
		t.Fatal(err)
	}
}
