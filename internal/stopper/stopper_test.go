package stopper

import (
	"errors"
	"testing"
)

func TestFirstStopWins(t *testing.T) {
	s := New()
	select {
	case <-s.Done():
		t.Fatal("done before Stop")
	default:
	}
	first := errors.New("first")
	s.Stop(first)
	s.Stop(errors.New("second"))
	if err := s.Wait(); err != first {
		t.Fatalf("Wait = %v, want the first reason", err)
	}
}
