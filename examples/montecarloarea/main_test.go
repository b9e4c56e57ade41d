package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func TestComputePrintsAScriptableResult(t *testing.T) {
	cmd := newRoot()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"compute", "--expression", "2x2 + 3x", "--x-low", "0", "--x-high", "10", "--y-low", "0", "--y-high", "230", "--points", "1000", "--tasks", "4"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^area=[0-9.]+ under=[0-9]+ total=[0-9]+ method=grid pieces=4 exact=[0-9.]+\n$`).MatchString(out.String()) {
		t.Errorf("output %q", out.String())
	}
}

func TestComputeRefusesABadExpression(t *testing.T) {
	cmd := newRoot()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"compute", "--expression", "2x2 + 3y"})
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), `"3y"`) {
		t.Fatalf("got %v, want an error naming the term", err)
	}
}
