// Package goldenfile compares what a test produces with the files it keeps
// under testdata, and rewrites them when the test runs with -update-golden.
package goldenfile

import (
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

var update = flag.Bool("update-golden", false, "rewrite the golden files from what the tests produce now")

// Check compares got with the file at path, or writes it with
// -update-golden.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s (run with -update-golden to write it): %v", path, err)
	}
	if string(got) != string(want) {
		t.Errorf("%s changed:\n got %s\nwant %s\n(run with -update-golden if the change is meant)", path, got, want)
	}
}

// MesosEvent pins the two encodings of a Mesos event: dir/name.json in
// Mesos's JSON and dir/name.pb.hex in protobuf, and checks that the
// protobuf reads back as the same event.
func MesosEvent(t testing.TB, dir, name string, e proto.Message) {
	t.Helper()
	js, err := mesoswire.JSON.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := proto.MarshalOptions{Deterministic: true}.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	Check(t, filepath.Join(dir, name+".json"), append(js, '\n'))
	Check(t, filepath.Join(dir, name+".pb.hex"), []byte(hex.EncodeToString(pb)+"\n"))
	back := e.ProtoReflect().New().Interface()
	if err := proto.Unmarshal(pb, back); err != nil || !proto.Equal(back, e) {
		t.Errorf("protobuf reads back as %v (%v), want %v", back, err, e)
	}
}
