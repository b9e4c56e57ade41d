package record

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestWriteRead(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	unreachable := at.Add(time.Minute)
	in := []Entry{
		{At: at, Kind: KindTask, Type: Added, Namespace: "ns", Name: "mc-piece-0-0", ResourceVersion: "12", UID: "u1",
			Task: &Task{Framework: "mc", State: "TASK_STAGING", AgentID: "n1-0a0b0c0d", Resources: map[string]string{"cpu": "500m"},
				Executor: "montecarloarea", ExecutorResources: map[string]string{"cpu": "100m"}}},
		{At: at, Kind: KindAgent, Type: Modified, Name: "n1", ResourceVersion: "13",
			Agent: &Agent{Phase: "Unreachable", AgentID: "n1-0a0b0c0d", UnreachableTime: &unreachable}},
		{At: at, Kind: KindFault, Fault: &Fault{Kind: FaultLeaderKill, Target: "master-0", Error: "no such pod"}},
		{At: at, Kind: KindExpect, Namespace: "ns", Name: "mc", Expect: &Expect{Phase: "Completed", Result: "area=1"}},
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, e := range in {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(buf.String(), "\n"); n != len(in) {
		t.Fatalf("%d lines for %d entries:\n%s", n, len(in), buf.String())
	}
	out, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("read %d entries, wrote %d", len(out), len(in))
	}
	if got := out[0].Task.ExecutorResources["cpu"]; got != "100m" {
		t.Errorf("executor resources read back as %q", got)
	}
	if got := out[1].Agent.UnreachableTime; got == nil || !got.Equal(unreachable) {
		t.Errorf("unreachableTime read back as %v", got)
	}
	if out[2].Fault.Error != "no such pod" || out[3].Expect.Result != "area=1" {
		t.Errorf("fault %+v, expect %+v", out[2].Fault, out[3].Expect)
	}
}

func TestReadNamesTheBadLine(t *testing.T) {
	_, err := Read(strings.NewReader(`{"kind":"Task"}` + "\n" + `{"kind":` + "\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("got %v, want an error naming line 2", err)
	}
}

// FuzzRead feeds Read arbitrary bytes: it returns entries or an error,
// never panics, and what it reads writes back to a record that reads the
// same.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"at":"2026-11-25T10:00:00Z","kind":"Task","uid":"u","task":{"framework":"mc","state":"TASK_RUNNING"}}` + "\n"))
	f.Add([]byte(`{"kind":"Lease","lease":{"holder":"m-0_x","durationSeconds":15}}` + "\n" + `{"kind":"Expect","expect":{"phase":"Completed"}}`))
	f.Add([]byte("{\"kind\":\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for _, e := range entries {
			if err := w.Write(e); err != nil {
				t.Fatalf("writing back an entry read: %v", err)
			}
		}
		again, err := Read(&buf)
		if err != nil {
			t.Fatalf("reading back: %v", err)
		}
		if len(again) != len(entries) {
			t.Fatalf("read back %d entries of %d", len(again), len(entries))
		}
	})
}
