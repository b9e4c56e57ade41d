package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunWritesGoBesideTheProto(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a/v1/a.proto", `syntax = "proto2";
package a.v1;
option go_package = "example.com/a/v1;av1";
// Thing is a thing.
message Thing {
  optional string name = 1 [default = "x"];
}
`)
	write("a/v1/b/b.proto", `syntax = "proto2";
package a.v1.b;
import "a/v1/a.proto";
option go_package = "example.com/a/v1/b;bv1";
message Box {
  repeated a.v1.Thing things = 1;
}
`)
	if err := run(dir, dir, []string{"a/v1/a.proto", "a/v1/b/b.proto"}); err != nil {
		t.Fatalf("run: %v", err)
	}
	for name, want := range map[string][]string{
		"a/v1/a.pb.go":   {"package av1", "// Thing is a thing.\ntype Thing struct", `Default_Thing_Name = string("x")`},
		"a/v1/b/b.pb.go": {"package bv1", `v1 "example.com/a/v1"`, "Things "},
	} {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Fatalf("%s was not written: %v", name, err)
		}
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s lacks %q", name, w)
			}
		}
	}
}

func TestRunReportsBadProto(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.proto"), []byte(`syntax = "proto2"; message M { optional Nope n = 1; }`), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(dir, dir, []string{"bad.proto"})
	if err == nil || !strings.Contains(err.Error(), "Nope") {
		t.Fatalf("run = %v, want an error naming the unknown type", err)
	}
}
