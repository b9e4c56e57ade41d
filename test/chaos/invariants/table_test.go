package invariants

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kubemesos/kubemesos/test/chaos/record"
)

func TestTable(t *testing.T) {
	entries, writes := readFailover(t)
	rep := Check(entries, writes, defaultLimits)
	table := rep.Table()
	for _, want := range []string{
		"checked 4 tasks (16 state changes), 2 agents (2 agentIDs), 1 framework, 33 master writes (1 Lease takeover), ordered by resourceVersion: 0 violations",
		"INVARIANT                CHECKED  VIOLATIONS\n",
		"TaskStatesForward             16           0\n",
		"NoWritesWithoutLease          18           0\n",
		"FAULT          APPLIED      FAILED\nleader-kill          1           0\n",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("the table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "\nVIOLATIONS\n") {
		t.Errorf("a clean table lists violations:\n%s", table)
	}
	md := rep.Markdown()
	for _, want := range []string{"| Invariant | Checked | Violations |\n|---|---:|---:|\n", "| AgentResourcesHeld | 4 | 0 |\n", "| leader-kill | 1 | 0 |\n"} {
		if !strings.Contains(md, want) {
			t.Errorf("the Markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestTableListsViolations(t *testing.T) {
	r := newRec()
	for i := 0; i < maxListed+3; i++ {
		r.task(fmt.Sprintf("t%d", i), "TASK_FINISHED", "a1").task(fmt.Sprintf("t%d", i), "TASK_RUNNING", "a1")
	}
	r.fault(record.FaultEtcdStall, "fsync delay not supported")
	rep := r.check()
	table := rep.Table()
	if !strings.Contains(table, "TaskStatesForward 2026-11-25T10:00:02Z task ns/t0 (t0): terminal state TASK_FINISHED changed to TASK_RUNNING") {
		t.Errorf("the table does not list the first violation:\n%s", table)
	}
	if !strings.Contains(table, "... and 3 more\n") {
		t.Errorf("the table does not cut the list at %d:\n%s", maxListed, table)
	}
	if !strings.Contains(table, "etcd-stall          0           1") {
		t.Errorf("the table does not count the failed fault:\n%s", table)
	}
	md := rep.Markdown()
	if !strings.Contains(md, "- … and 3 more\n") {
		t.Errorf("the Markdown does not cut the list:\n%s", md)
	}
}

func TestMarkdownEscapesRecordText(t *testing.T) {
	md := newRec().task("t|*_", "TASK_LOST", "a1", from("SOURCE_EXECUTOR", "")).check().Markdown()
	if !strings.Contains(md, `**NoLostStatusUpdate** 2026-11-25T10:00:01Z task ns/t\|\*\_ (t\|\*\_): TASK\_LOST from SOURCE\_EXECUTOR`) {
		t.Errorf("the Markdown does not escape a violation:\n%s", md)
	}
}
