package mesosapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// leaseReader serves one Lease, or none, and counts its reads.
type leaseReader struct {
	lease *coordinationv1.Lease
	reads int
	// gate, when set, holds each read until it is closed.
	gate chan struct{}
}

func (r *leaseReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	r.reads++
	if r.gate != nil {
		<-r.gate
	}
	if r.lease == nil {
		return apierrors.NewNotFound(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, key.Name)
	}
	r.lease.DeepCopyInto(obj.(*coordinationv1.Lease))
	return nil
}

func (r *leaseReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	panic("not read")
}

// TestAStandbyReadsTheLeaseOnceASecond: however many calls reach a
// standby (they need no credentials), it reads the master Lease at most
// once a second to redirect them, and a new leader shows within it.
func TestAStandbyReadsTheLeaseOnceASecond(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	holder := func(id string) *coordinationv1.Lease {
		return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(id), LeaseDurationSeconds: ptr.To[int32](15),
			RenewTime: ptr.To(metav1.NewMicroTime(clk.Now()))}}
	}
	r := &leaseReader{}
	s := &Server{reader: r, clock: clk, log: logr.Discard(), opts: Options{LeaderLease: types.NamespacedName{Namespace: "kubemesos-system", Name: "master"}}}
	call := func() (int, string) {
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, Path, nil)
		if herr := s.redirect(w, req); herr != nil {
			return herr.Code, ""
		}
		return w.Code, w.Header().Get("Location")
	}
	for range 100 {
		if code, _ := call(); code != http.StatusServiceUnavailable {
			t.Fatalf("with no master Lease: %d, want 503", code)
		}
	}
	if r.reads != 1 {
		t.Errorf("100 calls within a second read the Lease %d times, want 1", r.reads)
	}
	r.lease = holder(AdvertisedIdentity("m1", "10.0.0.1:5050"))
	clk.Step(leaseReadInterval)
	for range 100 {
		if code, loc := call(); code != http.StatusTemporaryRedirect || loc != "//10.0.0.1:5050"+Path {
			t.Fatalf("with a leader: %d %q, want 307 to it", code, loc)
		}
	}
	r.lease = holder(AdvertisedIdentity("m2", "10.0.0.2:5050"))
	clk.Step(leaseReadInterval)
	if code, loc := call(); code != http.StatusTemporaryRedirect || loc != "//10.0.0.2:5050"+Path {
		t.Fatalf("a second after a new leader: %d %q, want 307 to it", code, loc)
	}
	if r.reads != 3 {
		t.Errorf("the Lease was read %d times over three seconds, want 3", r.reads)
	}
}

// TestACallerLeavingDoesNotEndTheLeaseRead: calls wait for one reading of
// the master Lease together; one that leaves returns at once, and its
// leaving neither ends the read nor makes the others read again.
func TestACallerLeavingDoesNotEndTheLeaseRead(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	r := &leaseReader{gate: make(chan struct{}), lease: &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{
		HolderIdentity: ptr.To(AdvertisedIdentity("m1", "10.0.0.1:5050")), LeaseDurationSeconds: ptr.To[int32](15),
		RenewTime: ptr.To(metav1.NewMicroTime(clk.Now()))}}}
	s := &Server{reader: r, clock: clk, log: logr.Discard(), opts: Options{LeaderLease: types.NamespacedName{Namespace: "kubemesos-system", Name: "master"}}}
	leaving, leave := context.WithCancel(context.Background())
	left := make(chan error, 1)
	go func() {
		_, err := s.masterLease.read(leaving, s)
		left <- err
	}()
	stayed := make(chan error, 1)
	go func() {
		time.Sleep(50 * time.Millisecond) // after the first call's read began
		_, err := s.masterLease.read(context.Background(), s)
		stayed <- err
	}()
	time.Sleep(100 * time.Millisecond)
	leave()
	select {
	case err := <-left:
		if err == nil {
			t.Error("the call that left got a Lease, want its context's error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the call that left still waits for the read")
	}
	close(r.gate)
	select {
	case err := <-stayed:
		if err != nil {
			t.Errorf("the call that stayed: %v, want the Lease", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the call that stayed never got the Lease")
	}
	if r.reads != 1 {
		t.Errorf("the Lease was read %d times, want once", r.reads)
	}
}
