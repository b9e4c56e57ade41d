package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// writeFileAtomic writes data to path through a temporary file, fsync and
// rename, so a crash leaves either the old or the new content, never half.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("creating a temporary file in %s: %w", dir, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", tmp, path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// State is what the agent checkpoints about itself under --work-dir.
type State struct {
	// AgentID is the agentID the agent last ran under.
	AgentID string `json:"agentID,omitempty"`
}

// LoadState reads the agent's checkpoint from dir; on a node's first start
// there is none, and the state is empty.
//
// A corrupt checkpoint does not stop the agent, which would crash-loop on
// it: it is kept aside as agent.json.corrupt-<unix time> for inspection, and
// the agent starts afresh, as on a new node, and takes its agentID from its
// Agent object again. log says so.
func LoadState(dir string, log logr.Logger) (*State, error) {
	path := filepath.Join(dir, "agent.json")
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &State{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the agent checkpoint %s: %w", path, err)
	}
	s, jerr := decodeState(raw)
	if jerr == nil {
		return &s, nil
	}
	aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
	if err := os.Rename(path, aside); err != nil {
		return nil, fmt.Errorf("the agent checkpoint %s is corrupt and cannot be moved aside: %w", path, err)
	}
	log.Error(jerr, "the agent checkpoint is corrupt; starting afresh", "checkpoint", path, "keptAs", aside)
	return &State{}, nil
}

// decodeState reads agent.json: one JSON object, as SaveState writes it.
// Fields it does not know (an older agent's) are ignored; anything else
// (not JSON, trailing data, null, a list, a string) is refused.
func decodeState(raw []byte) (State, error) {
	var s State
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return s, errors.New("not a JSON object")
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return State{}, err
	}
	return s, nil
}

// SaveState writes the agent's checkpoint.
func SaveState(dir string, s *State) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "agent.json"), raw)
}

// identity is the agentID the agent runs under, which the master assigns
// at admission and the agent checkpoints under its work directory. It is
// the one record of it: the registration loop sets it, every other part of
// the agent reads it.
type identity struct {
	dir string

	mu sync.Mutex
	id string
}

// loadIdentity reads the agentID checkpointed under dir ("" on a node's
// first start).
func loadIdentity(dir string, log logr.Logger) (*identity, error) {
	st, err := LoadState(dir, log)
	if err != nil {
		return nil, err
	}
	return &identity{dir: dir, id: st.AgentID}, nil
}

// get returns the agentID, "" before admission.
func (i *identity) get() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.id
}

// set checkpoints id and runs under it from now on.
func (i *identity) set(id string) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := SaveState(i.dir, &State{AgentID: id}); err != nil {
		return fmt.Errorf("checkpointing agentID %s: %w", id, err)
	}
	i.id = id
	return nil
}
