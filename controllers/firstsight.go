package controllers

import (
	"sync"
	"time"
)

// firstSight records when this master first saw each object in some state
// (an agent removed, a framework Pending), by its own clock, not by a time
// another leader wrote. An entry is for one identity of the object (an
// agentID, a UID): a new identity under the same key starts over.
type firstSight[K comparable] struct {
	mu   sync.Mutex
	seen map[K]sighting
}

// sighting is when an identity was first seen.
type sighting struct {
	id string
	at time.Time
}

// since returns when key was first seen as id, recording now if it was not.
func (f *firstSight[K]) since(key K, id string, now time.Time) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.seen[key]; ok && s.id == id {
		return s.at
	}
	if f.seen == nil {
		f.seen = map[K]sighting{}
	}
	f.seen[key] = sighting{id: id, at: now}
	return now
}

// forget drops key, once it has left the state or is gone.
func (f *firstSight[K]) forget(key K) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.seen, key)
}
