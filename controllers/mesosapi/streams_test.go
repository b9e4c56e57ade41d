package mesosapi

import "testing"

// TestRegistry: a framework's open stream is found by its frameworkID in
// its namespace and by its Framework object; a newer stream replaces it,
// removing the older one leaves the newer, and a closed stream is found
// by neither.
func TestRegistry(t *testing.T) {
	r := newRegistry()
	older := newStream("s1", "fw-id", "ns", "fw", nil)
	if r.replace(older) != nil {
		t.Fatal("a first stream replaced one")
	}
	if r.get("fw-id", "ns") != older || r.ofObject("ns", "fw") != older {
		t.Fatal("the stream is not found")
	}
	if r.get("fw-id", "other") != nil || r.ofObject("other", "fw") != nil {
		t.Error("a stream is found in another namespace")
	}
	newer := newStream("s2", "fw-id", "ns", "fw", nil)
	if r.replace(newer) != older {
		t.Error("the newer stream did not replace the older")
	}
	r.remove(older)
	if r.get("fw-id", "ns") != newer || r.ofObject("ns", "fw") != newer {
		t.Error("removing the older stream removed the newer")
	}
	newer.close(nil)
	if r.get("fw-id", "ns") != nil || r.ofObject("ns", "fw") != nil {
		t.Error("a closed stream is found")
	}
	r.remove(newer)
	if len(r.byFw) != 0 || len(r.byObject) != 0 {
		t.Errorf("streams left after removal: %d by ID, %d by object", len(r.byFw), len(r.byObject))
	}
}

// TestRegistryUnacknowledged: the gauge of unacknowledged updates counts
// the updates kept on the open streams until they are acknowledged, and
// none of a closed stream.
func TestRegistryUnacknowledged(t *testing.T) {
	r := newRegistry()
	a, b := newStream("s1", "fw-a", "ns", "a", nil), newStream("s2", "fw-b", "ns", "b", nil)
	r.replace(a)
	r.replace(b)
	a.addPending("u1", &pending{})
	a.addPending("u2", &pending{})
	b.addPending("u3", &pending{})
	if n := r.unacknowledged(); n != 3 {
		t.Fatalf("%d unacknowledged, want 3", n)
	}
	a.takePending("u1")
	if n := r.unacknowledged(); n != 2 {
		t.Errorf("after an acknowledgement %d unacknowledged, want 2", n)
	}
	b.close(nil)
	if n := r.unacknowledged(); n != 1 {
		t.Errorf("after a stream closed %d unacknowledged, want 1", n)
	}
}
