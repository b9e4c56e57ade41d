package admission

import (
	"context"
	"testing"

	b "github.com/kubemesos/kubemesos/internal/builders"
)

// masterUser is the master's ServiceAccount.
const masterUser = "system:serviceaccount:" + systemNS + ":kubemesos-master"

// TestMasterMayCollectTerminalTasks: the chart's master role lets the
// master delete a framework's oldest terminal Tasks beyond
// --terminal-task-limit (found by the fault campaign: without delete on
// tasks the collection failed for ever once a framework passed the limit),
// and still may not delete Frameworks.
func TestMasterMayCollectTerminalTasks(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	task := b.MakeTask("done", ns).Framework("fw").Offer("o1").Command("busybox:stable", "true").Obj()
	if err := env.Client.Create(ctx, task); err != nil {
		t.Fatal(err)
	}
	master := as(t, masterUser, []string{"system:serviceaccounts", "system:serviceaccounts:" + systemNS}, nil)
	allowed(t, "the master deletes a Task", master.Delete(ctx, task))
	refused(t, "the master deletes a Framework", master.Delete(ctx, b.MakeFramework("fw", ns).Obj()), "forbidden")
}
