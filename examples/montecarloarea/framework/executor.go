package framework

import (
	"context"
	"fmt"
	"sync"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/examples/montecarloarea/area"
	"github.com/kubemesos/kubemesos/sdk/executor"
)

// Executor is the MonteCarloArea executor: each launched task counts one
// piece's points in a goroutine and reports them in TASK_FINISHED's data.
type Executor struct {
	mu      sync.Mutex
	cancels map[string]context.CancelFunc
}

var _ executor.Executor = (*Executor)(nil)

// Registered needs nothing.
func (e *Executor) Registered(executor.ExecutorDriver, executor.Info) {}

// Reregistered needs nothing: running pieces report when they end.
func (e *Executor) Reregistered(executor.ExecutorDriver, executor.Info) {}

// Disconnected needs nothing: the driver reconnects and resends updates.
func (e *Executor) Disconnected(executor.ExecutorDriver) {}

// LaunchTask starts counting a piece. It returns at once, as every callback
// should; the work runs in a goroutine.
func (e *Executor) LaunchTask(d executor.ExecutorDriver, task executorapi.TaskInfo) {
	ctx, cancel := context.WithCancel(context.Background())
	e.mu.Lock()
	if e.cancels == nil {
		e.cancels = map[string]context.CancelFunc{}
	}
	e.cancels[task.TaskID] = cancel
	e.mu.Unlock()
	go e.run(ctx, d, task)
}

func (e *Executor) run(ctx context.Context, d executor.ExecutorDriver, task executorapi.TaskInfo) {
	defer func() {
		e.mu.Lock()
		delete(e.cancels, task.TaskID)
		e.mu.Unlock()
	}()
	piece, params, err := DecodePiece(task.Data)
	if err != nil {
		_ = d.SendStatusUpdate(executor.TaskStatus{TaskID: task.TaskID, State: kmv1.TaskFailed, Message: err.Error()})
		return
	}
	_ = d.SendStatusUpdate(executor.TaskStatus{TaskID: task.TaskID, State: kmv1.TaskRunning,
		Message: fmt.Sprintf("counting piece %d (%s)", piece.Index, params.Method)})
	var c Count
	if params.Method == area.MethodGrid {
		c.Under, c.Total = area.GridCount(params, piece.From, piece.To)
	} else {
		samples := area.SplitSamples(params)
		if piece.Index < 0 || piece.Index >= len(samples) {
			_ = d.SendStatusUpdate(executor.TaskStatus{TaskID: task.TaskID, State: kmv1.TaskFailed,
				Message: fmt.Sprintf("piece %d is not one of the %d pieces", piece.Index, len(samples))})
			return
		}
		c.Under, c.Total = area.RandomCount(params, int64(piece.Index), samples[piece.Index])
	}
	if ctx.Err() != nil {
		_ = d.SendStatusUpdate(executor.TaskStatus{TaskID: task.TaskID, State: kmv1.TaskKilled, Message: "killed"})
		return
	}
	_ = d.SendStatusUpdate(executor.TaskStatus{TaskID: task.TaskID, State: kmv1.TaskFinished, Data: c.String(),
		Message: fmt.Sprintf("piece %d done", piece.Index)})
}

// KillTask cancels a running piece; it reports TASK_KILLED.
func (e *Executor) KillTask(d executor.ExecutorDriver, taskID string) {
	e.mu.Lock()
	cancel := e.cancels[taskID]
	e.mu.Unlock()
	if cancel != nil {
		cancel()
		return
	}
	_ = d.SendStatusUpdate(executor.TaskStatus{TaskID: taskID, State: kmv1.TaskKilled, Message: "killed before it ran"})
}

// FrameworkMessage is unused by MonteCarloArea.
func (e *Executor) FrameworkMessage(executor.ExecutorDriver, string) {}

// Shutdown cancels every running piece.
func (e *Executor) Shutdown(executor.ExecutorDriver) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.cancels {
		c()
	}
}

// Error needs nothing: the driver logs it.
func (e *Executor) Error(executor.ExecutorDriver, string) {}
