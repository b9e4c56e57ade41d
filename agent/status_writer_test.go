package agent

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/scheme"
)

// TestApplyUpdate: the fields an update sets, keeps and clears.
func TestApplyUpdate(t *testing.T) {
	t0, t1 := time.Unix(1000, 0), time.Unix(2000, 0)
	at := func(t time.Time) *metav1.Time { return ptr.To(metav1.NewTime(t)) }
	staged := kmv1.TaskStatus{State: kmv1.TaskStaging, AgentID: "ag-1", NodeName: "n", Reason: kmv1.ReasonExecutorTerminated,
		Data: "old", ExecutorID: "e", StagingTime: at(t0)}
	for name, tc := range map[string]struct {
		from kmv1.TaskStatus
		u    Update
		want kmv1.TaskStatus
	}{
		"running: the start time, the reason cleared, data and pod kept": {
			from: staged,
			u:    Update{State: kmv1.TaskRunning, Source: kmv1.SourceExecutor, Message: "up", PodName: "p", Healthy: ptr.To(true), Timestamp: t1},
			want: kmv1.TaskStatus{State: kmv1.TaskRunning, AgentID: "ag-1", NodeName: "n", Source: kmv1.SourceExecutor, Message: "up",
				Data: "old", ExecutorID: "e", PodName: "p", Healthy: ptr.To(true), StagingTime: at(t0), StartTime: at(t1), LastUpdateTime: at(t1)},
		},
		"running again: the first start time stays": {
			from: kmv1.TaskStatus{State: kmv1.TaskRunning, StartTime: at(t0)},
			u:    Update{State: kmv1.TaskRunning, Source: kmv1.SourceExecutor, Data: "new", Timestamp: t1},
			want: kmv1.TaskStatus{State: kmv1.TaskRunning, Source: kmv1.SourceExecutor, Data: "new", StartTime: at(t0), LastUpdateTime: at(t1)},
		},
		"terminal: the completion time and the reason": {
			from: kmv1.TaskStatus{State: kmv1.TaskRunning, StartTime: at(t0)},
			u:    Update{State: kmv1.TaskFailed, Reason: kmv1.ReasonCommandExecutorFailed, Source: kmv1.SourceAgent, Message: "exit 3", Timestamp: t1},
			want: kmv1.TaskStatus{State: kmv1.TaskFailed, Reason: kmv1.ReasonCommandExecutorFailed, Source: kmv1.SourceAgent, Message: "exit 3",
				StartTime: at(t0), CompletionTime: at(t1), LastUpdateTime: at(t1)},
		},
	} {
		got := *tc.from.DeepCopy()
		applyUpdate(&got, tc.u)
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", name, d)
		}
	}
}

// writerFixture is a status writer over a fake API server holding one
// staged task; meddle, when set, runs once between the writer's read of
// the task and its patch, as a concurrent writer would.
type writerFixture struct {
	c      client.Client
	w      *statusWriter
	task   *kmv1.Task
	meddle func(ctx context.Context, c client.Client)
	// conflicts makes every patch conflict.
	conflicts bool
	// frozen, when set, is what every read returns: a cache that has seen
	// nothing since.
	frozen  *kmv1.Task
	log     logr.Logger
	reads   int
	patches []string
	errLogs []string
}

func newWriterFixture() *writerFixture {
	f := &writerFixture{task: b.MakeTask("t", "ns").Framework("fw").Command("busybox").Obj()}
	f.task.Status = kmv1.TaskStatus{State: kmv1.TaskStaging, AgentID: "ag-1", NodeName: "n"}
	var mu sync.Mutex
	f.c = fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(f.task).WithStatusSubresource(&kmv1.Task{}).
		WithInterceptorFuncs(interceptor.Funcs{
			Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				mu.Lock()
				f.reads++
				frozen := f.frozen
				mu.Unlock()
				if frozen != nil {
					frozen.DeepCopyInto(obj.(*kmv1.Task))
					return nil
				}
				return c.Get(ctx, key, obj, opts...)
			},
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
				data, err := patch.Data(obj)
				if err != nil {
					return err
				}
				mu.Lock()
				f.patches = append(f.patches, string(data))
				meddle, conflicts := f.meddle, f.conflicts
				f.meddle = nil
				mu.Unlock()
				if meddle != nil {
					meddle(ctx, c)
				}
				if conflicts {
					return apierrors.NewConflict(schema.GroupResource{Group: kmv1.GroupVersion.Group, Resource: "tasks"}, obj.GetName(), nil)
				}
				return c.Status().Patch(ctx, obj, patch, opts...)
			},
		}).Build()
	log := funcr.New(func(prefix, args string) {}, funcr.Options{Verbosity: 10})
	f.log = logr.New(&errorSink{LogSink: log.GetSink(), record: func(m string) { f.errLogs = append(f.errLogs, m) }})
	f.w = &statusWriter{client: f.c, log: f.log}
	return f
}

// errorSink passes each message logged as an error, with its error, to
// record.
type errorSink struct {
	logr.LogSink
	record func(string)
}

func (s *errorSink) Error(err error, msg string, _ ...any) { s.record(msg + ": " + err.Error()) }

func (f *writerFixture) current(t *testing.T) *kmv1.Task {
	t.Helper()
	frozen := f.frozen
	f.frozen = nil
	defer func() { f.frozen = frozen }()
	var cur kmv1.Task
	if err := f.c.Get(context.Background(), client.ObjectKeyFromObject(f.task), &cur); err != nil {
		t.Fatal(err)
	}
	return &cur
}

// setStatus writes the task's status as another writer (the master).
func setStatus(ctx context.Context, t *testing.T, c client.Client, key client.ObjectKey, edit func(*kmv1.TaskStatus)) {
	var cur kmv1.Task
	if err := c.Get(ctx, key, &cur); err != nil {
		t.Error(err)
		return
	}
	edit(&cur.Status)
	if err := c.Status().Update(ctx, &cur); err != nil {
		t.Error(err)
	}
}

// TestStatusWriteIsPreconditioned: the agent's status write is a merge
// patch of its own fields, preconditioned on the resourceVersion it read.
// When another writer got there first, the patch conflicts and the writer
// reads the task again: the other writer's fields survive, and an update
// that the task no longer takes (it became terminal) is dropped, not
// written over it. A conflict that does not go away is returned for the
// manager to retry later, and never logged as an error.
func TestStatusWriteIsPreconditioned(t *testing.T) {
	ctx := context.Background()
	running := Update{Task: client.ObjectKey{Namespace: "ns", Name: "t"}, AgentID: "ag-1", State: kmv1.TaskRunning, Source: kmv1.SourceAgent,
		Message: "running", PodName: "p", Timestamp: time.Unix(2000, 0)}

	t.Run("the patch", func(t *testing.T) {
		f := newWriterFixture()
		if err := f.w.write(ctx, running); err != nil {
			t.Fatal(err)
		}
		var patch map[string]any
		if len(f.patches) != 1 || json.Unmarshal([]byte(f.patches[0]), &patch) != nil {
			t.Fatalf("patches %q", f.patches)
		}
		meta, _ := patch["metadata"].(map[string]any)
		if meta["resourceVersion"] == nil || meta["resourceVersion"] == "" {
			t.Errorf("the patch has no resourceVersion precondition: %s", f.patches[0])
		}
		st, _ := patch["status"].(map[string]any)
		for _, k := range []string{"state", "source", "message", "podName", "startTime", "lastUpdateTime"} {
			if _, ok := st[k]; !ok {
				t.Errorf("the patch does not set status.%s: %s", k, f.patches[0])
			}
		}
		for _, k := range []string{"agentID", "nodeName", "completionTime"} {
			if _, ok := st[k]; ok {
				t.Errorf("the patch sets status.%s, which the update does not change: %s", k, f.patches[0])
			}
		}
		if cur := f.current(t); cur.Status.State != kmv1.TaskRunning || cur.Status.PodName != "p" || cur.Status.StartTime == nil {
			t.Errorf("written status %+v", cur.Status)
		}
	})

	t.Run("another writer's field survives", func(t *testing.T) {
		f := newWriterFixture()
		staged := metav1.NewTime(time.Unix(1500, 0))
		f.meddle = func(ctx context.Context, c client.Client) {
			setStatus(ctx, t, c, client.ObjectKeyFromObject(f.task), func(s *kmv1.TaskStatus) { s.StagingTime = &staged })
		}
		if err := f.w.write(ctx, running); err != nil {
			t.Fatal(err)
		}
		if len(f.patches) != 2 || f.reads != 2 {
			t.Errorf("%d patches and %d reads, want the conflict to bring a second read and patch", len(f.patches), f.reads)
		}
		cur := f.current(t)
		if cur.Status.State != kmv1.TaskRunning || cur.Status.StagingTime == nil || !cur.Status.StagingTime.Equal(&staged) {
			t.Errorf("status after the conflict %+v, want RUNNING with the other writer's stagingTime", cur.Status)
		}
	})

	t.Run("after a conflict the task is read from the API server", func(t *testing.T) {
		f := newWriterFixture()
		staged := metav1.NewTime(time.Unix(1500, 0))
		f.meddle = func(ctx context.Context, c client.Client) {
			setStatus(ctx, t, c, client.ObjectKeyFromObject(f.task), func(s *kmv1.TaskStatus) { s.StagingTime = &staged })
		}
		live := &countingReader{Reader: f.c}
		f.w.live = live
		if err := f.w.write(ctx, running); err != nil {
			t.Fatal(err)
		}
		if len(f.patches) != 2 || f.reads != 2 || live.gets != 1 {
			t.Errorf("%d patches, %d reads, %d of them live; want the retry after the conflict to read live", len(f.patches), f.reads, live.gets)
		}
	})

	t.Run("a task that became terminal is not written over", func(t *testing.T) {
		f := newWriterFixture()
		f.meddle = func(ctx context.Context, c client.Client) {
			setStatus(ctx, t, c, client.ObjectKeyFromObject(f.task), func(s *kmv1.TaskStatus) {
				s.State, s.Reason, s.Message = kmv1.TaskLost, kmv1.ReasonExecutorTerminated, "the agent is unreachable"
			})
		}
		if err := f.w.write(ctx, running); err != nil {
			t.Fatal(err)
		}
		if cur := f.current(t); cur.Status.State != kmv1.TaskLost || cur.Status.Message != "the agent is unreachable" {
			t.Errorf("status %+v, want the registry's TASK_LOST kept", cur.Status)
		}
		if len(f.patches) != 1 {
			t.Errorf("%d patches, want none after the read that saw TASK_LOST", len(f.patches))
		}
	})

	t.Run("a lasting conflict is retried later", func(t *testing.T) {
		f := newWriterFixture()
		f.conflicts = true
		if err := f.w.write(ctx, running); !apierrors.IsConflict(err) {
			t.Fatalf("write: %v, want the conflict returned", err)
		}
		if f.reads < 2 || f.reads != len(f.patches) {
			t.Errorf("%d reads for %d patches: each attempt must read the task again", f.reads, len(f.patches))
		}
		// Through the manager: the update stays queued, and is written
		// once the conflicts stop.
		clk := clocktesting.NewFakeClock(time.Unix(3000, 0))
		su := NewStatusUpdates(t.TempDir(), f.w.write, func(context.Context, Update) {}, clk, f.log)
		if err := su.Enqueue(ctx, running); err != nil {
			t.Fatal(err)
		}
		wait := su.flush(ctx)
		if len(su.Pending(running.Task)) != 1 {
			t.Fatal("the update was dropped after a conflict")
		}
		f.conflicts = false
		clk.Step(wait)
		su.flush(ctx)
		if len(su.Pending(running.Task)) != 0 || f.current(t).Status.State != kmv1.TaskRunning {
			t.Errorf("after the conflicts: pending %v, state %s; want it written", su.Pending(running.Task), f.current(t).Status.State)
		}
		if len(f.errLogs) != 0 {
			t.Errorf("a conflict was logged as an error: %q", strings.Join(f.errLogs, "; "))
		}
	})
}

// countingReader counts the reads that go through it.
type countingReader struct {
	client.Reader
	gets int
}

func (r *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	r.gets++
	return r.Reader.Get(ctx, key, obj, opts...)
}

// TestStatusWritesFromALaggingCache: while the cache has not seen the
// writer's own last write of a task, the next write of that task starts
// from what the last one returned, and does not conflict. Once the cache
// has moved on, the writer reads it again and forgets the write; a task's
// terminal write is not remembered.
func TestStatusWritesFromALaggingCache(t *testing.T) {
	ctx := context.Background()
	key := client.ObjectKey{Namespace: "ns", Name: "t"}
	running := Update{Task: key, AgentID: "ag-1", State: kmv1.TaskRunning, Source: kmv1.SourceExecutor, Timestamp: time.Unix(2000, 0)}
	data := running
	data.Data, data.Timestamp = "half way", time.Unix(2001, 0)
	finished := Update{Task: key, AgentID: "ag-1", State: kmv1.TaskFinished, Source: kmv1.SourceExecutor, Data: "42", Timestamp: time.Unix(2002, 0)}

	f := newWriterFixture()
	f.frozen = f.current(t) // the cache shows TASK_STAGING throughout
	for _, u := range []Update{running, data, finished} {
		if err := f.w.write(ctx, u); err != nil {
			t.Fatalf("%s: %v", u.State, err)
		}
	}
	if len(f.patches) != 3 {
		t.Errorf("%d patches for 3 updates, want no conflict: %q", len(f.patches), f.patches)
	}
	cur := f.current(t)
	if cur.Status.State != kmv1.TaskFinished || cur.Status.Data != "42" || cur.Status.StartTime == nil || !cur.Status.StartTime.Time.Equal(time.Unix(2000, 0)) {
		t.Errorf("status %+v, want TASK_FINISHED with data 42 and the first start time", cur.Status)
	}
	if n := f.w.own.len(); n != 0 {
		t.Errorf("%d writes remembered after the task's terminal write, want 0", n)
	}

	// The cache catches up with the first write: the writer reads it, and
	// forgets what it remembered.
	f = newWriterFixture()
	if err := f.w.write(ctx, running); err != nil {
		t.Fatal(err)
	}
	if n := f.w.own.len(); n != 1 {
		t.Errorf("%d writes remembered after a running task's write, want 1", n)
	}
	if got := f.w.own.since(key, f.current(t).ResourceVersion); got != nil {
		t.Errorf("a write is remembered for a cache that has moved on: %+v", got.Status)
	}
	if n := f.w.own.len(); n != 0 {
		t.Errorf("%d writes remembered though the cache saw the write, want 0", n)
	}
}
