package agent

import (
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
	if err != nil || first.Secret == "" {
		t.Fatalf("a new checkpoint: %+v, %v", first, err)
	}
	again, err := LoadState(dir, logr.Discard())
	if err != nil || again.Secret != first.Secret {
		t.Fatalf("the checkpoint did not survive a reload: %+v, %v", again, err)
	}
	for _, garbage := range []string{`{"agentID":`, `{"agentID":"a"}`} {
		if err := os.WriteFile(filepath.Join(dir, "agent.json"), []byte(garbage), 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := LoadState(dir, logr.Discard())
		if err != nil || st.Secret == "" || st.Secret == first.Secret || st.AgentID != "" {
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
