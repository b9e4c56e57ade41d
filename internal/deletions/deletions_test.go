package deletions

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

func TestEachObjectIsDeletedOnce(t *testing.T) {
	ctx := context.Background()
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "uid-1"}}
	deletes := 0
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(pod.DeepCopy()).WithInterceptorFuncs(interceptor.Funcs{
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			deletes++
			return c.Delete(ctx, obj, opts...)
		},
	}).Build()
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := New(c, clk)

	// A stale cache shows the pod again and again: one request.
	for i := 0; i < 5; i++ {
		if _, err := d.Delete(ctx, pod.DeepCopy()); err != nil {
			t.Fatal(err)
		}
	}
	if deletes != 1 {
		t.Errorf("5 passes over a stale cache sent %d deletions, want 1", deletes)
	}
	// A terminating object is not deleted again.
	terminating := pod.DeepCopy()
	terminating.UID, terminating.DeletionTimestamp = "uid-2", &metav1.Time{Time: clk.Now()}
	if sent, _ := d.Delete(ctx, terminating); sent {
		t.Error("a terminating pod was deleted again")
	}
	// Past the memory, a deletion is tried again (it may have been lost);
	// the object is gone by now, which counts as deleted.
	clk.SetTime(clk.Now().Add(Memory))
	if sent, err := d.Delete(ctx, pod.DeepCopy()); !sent || err != nil {
		t.Errorf("after %s: sent %v, err %v; want a retry that finds the pod gone", Memory, sent, err)
	}
}

func TestConcurrentCallersDeleteOnce(t *testing.T) {
	ctx := context.Background()
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "uid-1"}}
	var deletes atomic.Int32
	inFlight := make(chan struct{})
	release := make(chan struct{})
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(pod.DeepCopy()).WithInterceptorFuncs(interceptor.Funcs{
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			if deletes.Add(1) == 1 {
				close(inFlight)
				<-release // the first request is still on its way when the second caller comes
			}
			return c.Delete(ctx, obj, opts...)
		},
	}).Build()
	d := New(c, clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	done := make(chan error)
	go func() {
		_, err := d.Delete(ctx, pod.DeepCopy())
		done <- err
	}()
	<-inFlight
	if sent, err := d.Delete(ctx, pod.DeepCopy()); err != nil || sent {
		t.Errorf("a second caller while the first deletion is in flight: sent %t, %v", sent, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := deletes.Load(); n != 1 {
		t.Errorf("two callers sent %d deletions, want 1", n)
	}
}
