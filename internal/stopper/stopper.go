// Package stopper is the stop-once state that the SDK's drivers share: the
// first Stop records why the driver stopped and closes Done; Wait returns
// that reason.
package stopper

import "sync"

// Stopper stops once.
type Stopper struct {
	once sync.Once
	done chan struct{}
	err  error
}

// New returns a running Stopper.
func New() *Stopper { return &Stopper{done: make(chan struct{})} }

// Stop records err as the reason and closes Done, the first time only.
func (s *Stopper) Stop(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
	})
}

// Done is closed once stopped.
func (s *Stopper) Done() <-chan struct{} { return s.done }

// Wait blocks until stopped and returns the first reason given.
func (s *Stopper) Wait() error {
	<-s.done
	return s.err
}
