package agent

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-logr/logr"
)

// TestCorruptCheckpointStartsAfresh: a corrupt agent checkpoint is kept
// aside and the agent starts with a new one, instead of crash-looping.
func TestCorruptCheckpointStartsAfresh(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadState(dir, logr.Discard())
	if err != nil || first.AgentID != "" {
		t.Fatalf("a new node's state: %+v, %v", first, err)
	}
	if err := SaveState(dir, &State{AgentID: "ag-1"}); err != nil {
		t.Fatal(err)
	}
	again, err := LoadState(dir, logr.Discard())
	if err != nil || again.AgentID != "ag-1" {
		t.Fatalf("the checkpoint did not survive a reload: %+v, %v", again, err)
	}
	// A checkpoint of an older agent, with the secret that once derived
	// executor tokens: still read.
	if err := os.WriteFile(filepath.Join(dir, "agent.json"), []byte(`{"agentID":"ag-2","secret":"00"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if old, err := LoadState(dir, logr.Discard()); err != nil || old.AgentID != "ag-2" {
		t.Errorf("an older agent's checkpoint: %+v, %v", old, err)
	}
	for _, garbage := range []string{`{"agentID":`, `[]`, "\x00\xff", `null`, `"ag-3"`, `{"agentID":"ag-3"} {}`} {
		if err := os.WriteFile(filepath.Join(dir, "agent.json"), []byte(garbage), 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := LoadState(dir, logr.Discard())
		if err != nil || st.AgentID != "" {
			t.Errorf("after a corrupt checkpoint %q: %+v, %v; want a fresh state", garbage, st, err)
		}
		kept, _ := filepath.Glob(filepath.Join(dir, "agent.json.corrupt-*"))
		if len(kept) == 0 {
			t.Errorf("the corrupt checkpoint %q was not kept aside", garbage)
		}
		for _, k := range kept {
			_ = os.Remove(k)
		}
	}
}

// FuzzDecodeState: whatever agent.json holds, decodeState does not panic,
// and what it takes reads back the same once saved again: it refuses what
// it cannot give back.
func FuzzDecodeState(f *testing.F) {
	for _, seed := range []string{`{"agentID":"ag-1"}`, `{"agentID":"ag-2","secret":"00"}`, `{}`, ` {"agentID":"node-1-0a1b2c3d"}` + "\n",
		`{"agentID":"a","agentID":"b"}`, `{"AgentID":"x"}`, `{"agentID":"\ud800"}`, `null`, `[]`, `"x"`, `{"agentID":`, "\x00\xff", `{"agentID":1}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := decodeState(raw)
		if err != nil {
			return
		}
		if trimmed := bytes.TrimSpace(raw); !json.Valid(raw) || trimmed[0] != '{' {
			t.Fatalf("decodeState took %q, which is not one JSON object", raw)
		}
		saved, err := json.Marshal(&s)
		if err != nil {
			t.Fatalf("decodeState(%q) = %+v, which cannot be saved: %v", raw, s, err)
		}
		again, err := decodeState(saved)
		if err != nil || again != s {
			t.Fatalf("decodeState(%q) = %+v, saved as %s, reads back as %+v, %v", raw, s, saved, again, err)
		}
	})
}
