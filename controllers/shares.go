package controllers

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/allocator"
)

// shares holds each framework's dominant share as the last allocation
// cycle ranked it, for Framework.status.dominantShare: one computation
// (the allocator's), so what the status shows is what DRF sorts by.
type shares struct {
	mu sync.Mutex
	by map[types.NamespacedName]float64
}

// set records the shares of a cycle's input, after its offers were made.
func (s *shares) set(in *allocator.Input, fws []*kmv1.Framework) {
	all := in.DominantShares()
	by := make(map[types.NamespacedName]float64, len(fws))
	for i, fw := range fws {
		if fw != nil { // a free slot
			by[nsName(fw)] = all[i]
		}
	}
	s.mu.Lock()
	s.by = by
	s.mu.Unlock()
}

// get returns a framework's share, 0 before it took part in a cycle.
func (s *shares) get(fw types.NamespacedName) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.by[fw]
}
