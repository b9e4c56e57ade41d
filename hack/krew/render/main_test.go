package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const manifestPath = "../mesos.yaml"

// TestManifest checks the krew manifest: it parses strictly, names the
// plugin after its file, and every platform installs the binary and the
// completion script that the Makefile builds and packs.
func TestManifest(t *testing.T) {
	b, err := os.ReadFile(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Metadata.Name != "mesos" || filepath.Base(manifestPath) != m.Metadata.Name+".yaml" {
		t.Errorf("metadata.name = %q in %s; krew wants the file named after the plugin", m.Metadata.Name, manifestPath)
	}
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+$`).MatchString(m.Spec.Version) {
		t.Errorf("spec.version = %q, want vX.Y.Z", m.Spec.Version)
	}
	if m.Spec.ShortDescription == "" || m.Spec.Homepage == "" || m.Spec.Description == "" || !strings.Contains(m.Spec.Caveats, "kubectl_complete-mesos") {
		t.Errorf("spec lacks a description, homepage or the completion caveat: %+v", m.Spec)
	}
	makefile, err := os.ReadFile("../../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	mk := string(makefile)
	if len(m.Spec.Platforms) == 0 {
		t.Fatal("no platforms")
	}
	for _, p := range m.Spec.Platforms {
		key := p.Selector.MatchLabels["os"] + "/" + p.Selector.MatchLabels["arch"]
		if p.Bin != "kubectl-mesos" {
			t.Errorf("%s: bin = %q, want kubectl-mesos", key, p.Bin)
		}
		var from []string
		for _, f := range p.Files {
			from = append(from, f.From)
		}
		if strings.Join(from, " ") != "kubectl-mesos kubectl_complete-mesos" {
			t.Errorf("%s: files from %v, want kubectl-mesos and kubectl_complete-mesos", key, from)
		}
	}
	for _, want := range []string{"-o bin/kubectl-mesos ./cmd/kubectl-mesos", "bin/kubectl_complete-mesos", "kubectl-mesos kubectl_complete-mesos", "kubectl-mesos-krew:"} {
		if !strings.Contains(mk, want) {
			t.Errorf("the Makefile lacks %q: it must build and pack what the manifest installs", want)
		}
	}
}

func TestRender(t *testing.T) {
	dir := t.TempDir()
	archive := filepath.Join(dir, "kubectl-mesos_linux_amd64.tar.gz")
	if err := os.WriteFile(archive, []byte("archive bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(manifestPath, "v1.2.3", "file:///srv/bin/", []string{"linux/amd64=" + archive}, &out); err != nil {
		t.Fatal(err)
	}
	m, err := Parse(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("archive bytes"))
	if len(m.Spec.Platforms) != 1 || m.Spec.Version != "v1.2.3" {
		t.Fatalf("rendered %+v, want one platform at v1.2.3", m.Spec)
	}
	p := m.Spec.Platforms[0]
	if p.URI != "file:///srv/bin/kubectl-mesos_linux_amd64.tar.gz" || p.Sha256 != hex.EncodeToString(sum[:]) {
		t.Errorf("platform uri %q sha256 %q", p.URI, p.Sha256)
	}
	if err := run(manifestPath, "", "file:///x", []string{"plan9/mips=" + archive}, &out); err == nil {
		t.Error("an archive of a platform the manifest lacks was accepted")
	}
	if err := run(manifestPath, "", "", []string{"linux/amd64=" + archive}, &out); err == nil {
		t.Error("an empty -uri-base was accepted")
	}
}

func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile(manifestPath); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err == nil && (m.Kind != "Plugin" || m.APIVersion == "") {
			t.Errorf("Parse accepted kind %q apiVersion %q", m.Kind, m.APIVersion)
		}
	})
}
