// Command render writes the krew manifest of kubectl mesos with the uri and
// sha256 of built archives filled in: for each archive given as
// os/arch=path, the platform of that selector, its uri the base address
// joined with the archive's file name, its sha256 the archive's. Platforms
// without an archive are left out, so the manifest installs only what was
// built. `make kubectl-mesos-krew` runs it.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Manifest is a krew plugin manifest (krew.googlecontainertools.github.com/v1alpha2, kind Plugin).
type Manifest struct {
	// APIVersion and Kind identify a krew plugin manifest.
	APIVersion string `json:"apiVersion"`
	// Kind is Plugin.
	Kind string `json:"kind"`
	// Metadata holds the plugin's name, what follows `kubectl`.
	Metadata struct {
		// Name is the plugin's name.
		Name string `json:"name"`
	} `json:"metadata"`
	// Spec describes the plugin and its archives.
	Spec Spec `json:"spec"`
}

// Spec is a manifest's spec.
type Spec struct {
	// Version is the plugin's version, vX.Y.Z.
	Version string `json:"version"`
	// Homepage is the project's address.
	Homepage string `json:"homepage"`
	// ShortDescription is one line for `kubectl krew search`.
	ShortDescription string `json:"shortDescription"`
	// Description is the plugin's longer description.
	Description string `json:"description"`
	// Caveats are shown after installation.
	Caveats string `json:"caveats"`
	// Platforms are the archives, one per os/arch.
	Platforms []Platform `json:"platforms"`
}

// Platform is one archive and how to install it.
type Platform struct {
	// Selector picks the platform by os and arch labels.
	Selector struct {
		// MatchLabels holds os and arch.
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	// URI is where the archive is downloaded from.
	URI string `json:"uri"`
	// Sha256 is the archive's SHA-256, in hex.
	Sha256 string `json:"sha256"`
	// Bin is the plugin's executable within the installed files.
	Bin string `json:"bin"`
	// Files are copied from the archive into the plugin's directory.
	Files []File `json:"files"`
}

// File is one file copied from an archive.
type File struct {
	// From is a path (or glob) in the archive.
	From string `json:"from"`
	// To is where it goes, relative to the plugin's directory.
	To string `json:"to"`
}

// Parse reads a manifest, refusing unknown fields.
func Parse(b []byte) (*Manifest, error) {
	var m Manifest
	if err := yaml.UnmarshalStrict(b, &m); err != nil {
		return nil, fmt.Errorf("parsing the krew manifest: %w", err)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" {
		return nil, fmt.Errorf("the krew manifest is %s %s, want krew.googlecontainertools.github.com/v1alpha2 Plugin", m.APIVersion, m.Kind)
	}
	return &m, nil
}

// Render fills the platforms of archives (os/arch → file path) and drops
// the others. uriBase is joined with each archive's file name.
func Render(m *Manifest, version, uriBase string, archives map[string]string) (*Manifest, error) {
	out := *m
	if version != "" {
		out.Spec.Version = version
	}
	out.Spec.Platforms = nil
	for _, p := range m.Spec.Platforms {
		key := p.Selector.MatchLabels["os"] + "/" + p.Selector.MatchLabels["arch"]
		file, ok := archives[key]
		if !ok {
			continue
		}
		sum, err := sha256File(file)
		if err != nil {
			return nil, err
		}
		p.URI = strings.TrimSuffix(uriBase, "/") + "/" + path.Base(filepath.ToSlash(file))
		p.Sha256 = sum
		out.Spec.Platforms = append(out.Spec.Platforms, p)
		delete(archives, key)
	}
	for key := range archives {
		return nil, fmt.Errorf("the manifest has no platform %s", key)
	}
	if len(out.Spec.Platforms) == 0 {
		return nil, errors.New("no archive given: pass os/arch=path.tar.gz")
	}
	return &out, nil
}

func sha256File(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", fmt.Errorf("reading the archive: %w", err)
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading the archive %s: %w", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func main() {
	manifest := flag.String("manifest", "hack/krew/mesos.yaml", "the manifest to fill")
	version := flag.String("version", "", "the plugin version (vX.Y.Z); the manifest's when empty")
	uriBase := flag.String("uri-base", "", "the address the archives are served from, such as file:///path/to/bin or a release's download address")
	flag.Parse()
	if err := run(*manifest, *version, *uriBase, flag.Args(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func run(manifest, version, uriBase string, args []string, w io.Writer) error {
	if uriBase == "" {
		return errors.New("-uri-base is required")
	}
	b, err := os.ReadFile(manifest)
	if err != nil {
		return fmt.Errorf("reading the manifest: %w", err)
	}
	m, err := Parse(b)
	if err != nil {
		return err
	}
	archives := map[string]string{}
	for _, a := range args {
		key, file, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("archive %q: want os/arch=path.tar.gz", a)
		}
		archives[key] = file
	}
	out, err := Render(m, version, uriBase, archives)
	if err != nil {
		return err
	}
	y, err := yaml.Marshal(out)
	if err != nil {
		return fmt.Errorf("writing the manifest: %w", err)
	}
	_, err = w.Write(y)
	return err
}
