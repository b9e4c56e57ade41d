package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"sigs.k8s.io/yaml"
)

// The images of the local cluster, built here from static binaries on an
// empty base (no registry, no container engine) and imported into every
// node's containerd.
const (
	// kubemesosRepo is the image of the kubemesos binaries; its tag is the
	// chart's appVersion, so the chart's default image is the one built.
	kubemesosRepo = "kubemesos/kubemesos"
	// busyboxImage gives command tasks and examples a POSIX shell.
	busyboxImage = "busybox:stable"
	// mesosExecutorImage is the custom executor of the e2e test's Mesos
	// framework: mesos-go-executor (test/mesoscompat) with busybox's
	// shell, which the token prologue of a Mesos executor needs.
	mesosExecutorImage = "kubemesos/mesos-go-executor:e2e"
	// nodeExecutorImage is the other custom executor of the e2e test's
	// Mesos framework: the npm library mesos-framework's own executor
	// (test/e2e/mesosframework/executor.js, run by this machine's Node.js)
	// with busybox's shell, which the token prologue of a Mesos executor
	// needs.
	nodeExecutorImage = "kubemesos/mesos-framework-executor:e2e"
	// nodeExecutorDir is where that image holds executor.js and the
	// library's node_modules.
	nodeExecutorDir = "opt/mesos-framework"
	// pauseImage is each node's pod sandbox image.
	pauseImage = "kubemesos/pause:local"
	// busyboxBinary is the static busybox of Debian's busybox-static.
	busyboxBinary = "/bin/busybox"
	// nonRoot is the user the kubemesos image runs as (the Dockerfile's).
	nonRoot = "65532:65532"
)

// file is one entry of an image layer.
type file struct {
	path     string // inside the image, without a leading slash
	mode     int64
	src      string // a file on this machine to copy, or
	content  []byte // the content itself
	linkname string // for a symbolic link
	dir      bool
}

// imageSpec is an image: its files and its config.
type imageSpec struct {
	ref        string
	files      []file
	entrypoint []string
	cmd        []string
	user       string
	env        []string
}

// kubemesosTag reads the chart's appVersion.
func kubemesosTag(repo string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(repo, "charts", "kubemesos", "Chart.yaml"))
	if err != nil {
		return "", fmt.Errorf("reading the chart's appVersion: %w", err)
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(raw, &chart); err != nil || chart.AppVersion == "" {
		return "", fmt.Errorf("charts/kubemesos/Chart.yaml has no appVersion (%v)", err)
	}
	return chart.AppVersion, nil
}

// imageSpecs lists the images: the kubemesos binaries from binDir (as the
// Dockerfile lays them out), busybox, the e2e test's two custom Mesos
// executors, and the pause image.
func imageSpecs(repo, binDir string) ([]imageSpec, error) {
	tag, err := kubemesosTag(repo)
	if err != nil {
		return nil, err
	}
	applets, err := busyboxApplets()
	if err != nil {
		return nil, err
	}
	bb := []file{{path: "bin", dir: true, mode: 0o755}, {path: "bin/busybox", src: busyboxBinary, mode: 0o755},
		{path: "tmp", dir: true, mode: 0o1777}, {path: "etc", dir: true, mode: 0o755},
		{path: "etc/passwd", mode: 0o644, content: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nnonroot:x:65532:65532:nonroot:/home/nonroot:/bin/false\n")},
		{path: "etc/group", mode: 0o644, content: []byte("root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n")}}
	for _, a := range applets {
		if a != "busybox" {
			bb = append(bb, file{path: "bin/" + a, linkname: "busybox"})
		}
	}
	nodeSpec, err := nodeExecutorSpec(repo, bb)
	if err != nil {
		return nil, err
	}
	return []imageSpec{
		kubemesosImage(tag, binDir),
		{ref: busyboxImage, files: bb, cmd: []string{"sh"}, env: []string{"PATH=/bin"}},
		{ref: mesosExecutorImage, files: append(append([]file(nil), bb...),
			file{path: "usr", dir: true, mode: 0o755}, file{path: "usr/local", dir: true, mode: 0o755}, file{path: "usr/local/bin", dir: true, mode: 0o755},
			file{path: "usr/local/bin/mesos-go-executor", src: filepath.Join(binDir, "mesos-go-executor"), mode: 0o755}),
			cmd: []string{"mesos-go-executor"}, env: []string{"PATH=/usr/local/bin:/bin"}},
		nodeSpec,
		{ref: pauseImage, files: []file{{path: "pause", src: filepath.Join(binDir, "pause"), mode: 0o755}}, entrypoint: []string{"/pause"}, user: nonRoot},
	}, nil
}

// kubemesosImage is the kubemesos image as the Dockerfile makes it: the
// static binaries in /usr/local/bin, non-root, kubemesos as entrypoint.
func kubemesosImage(tag, binDir string) imageSpec {
	return imageSpec{
		ref: kubemesosRepo + ":" + tag,
		files: []file{{path: "usr", dir: true, mode: 0o755}, {path: "usr/local", dir: true, mode: 0o755}, {path: "usr/local/bin", dir: true, mode: 0o755},
			{path: "usr/local/bin/kubemesos", src: filepath.Join(binDir, "kubemesos"), mode: 0o755},
			{path: "usr/local/bin/montecarloarea", src: filepath.Join(binDir, "montecarloarea"), mode: 0o755}},
		entrypoint: []string{"kubemesos"}, user: nonRoot, env: []string{"PATH=/usr/local/bin"},
	}
}

// nodeExecutorSpec is the image of the npm library's executor: the shell
// files bb, this machine's node binary in /usr/local/bin with the shared
// libraries it needs (as ldd lists them, at the same paths), and executor.js
// with the npm packages of test/e2e/mesosframework (`make cluster-up` runs
// npm ci there first) in nodeExecutorDir.
func nodeExecutorSpec(repo string, bb []file) (imageSpec, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return imageSpec{}, fmt.Errorf("the image %s needs Node.js (node on the PATH): %w", nodeExecutorImage, err)
	}
	if node, err = filepath.EvalSymlinks(node); err != nil {
		return imageSpec{}, fmt.Errorf("finding node: %w", err)
	}
	libs, err := sharedLibraries(node)
	if err != nil {
		return imageSpec{}, err
	}
	files := append([]file(nil), bb...)
	dirs := map[string]bool{}
	for _, f := range bb {
		if f.dir {
			dirs[f.path] = true
		}
	}
	// mkdirs adds the directories of path that are not there yet.
	mkdirs := func(path string) {
		var missing []string
		for d := filepath.Dir(path); d != "." && d != "/" && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
			missing = append(missing, d)
		}
		for i := len(missing) - 1; i >= 0; i-- {
			files = append(files, file{path: missing[i], dir: true, mode: 0o755})
		}
	}
	add := func(f file) {
		mkdirs(f.path)
		files = append(files, f)
	}
	add(file{path: "usr/local/bin/node", src: node, mode: 0o755})
	for _, lib := range libs {
		add(file{path: strings.TrimPrefix(lib, "/"), src: lib, mode: 0o755})
	}
	src := filepath.Join(repo, "test", "e2e", "mesosframework")
	add(file{path: nodeExecutorDir + "/executor.js", src: filepath.Join(src, "executor.js"), mode: 0o644})
	modules := filepath.Join(src, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "mesos-framework", "package.json")); err != nil {
		return imageSpec{}, fmt.Errorf("the image %s needs the npm packages of %s (`make cluster-up` runs npm ci there): %w", nodeExecutorImage, src, err)
	}
	err = filepath.WalkDir(modules, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		in := nodeExecutorDir + "/" + filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			dirs[in] = true
			files = append(files, file{path: in, dir: true, mode: 0o755})
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			files = append(files, file{path: in, linkname: target})
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			files = append(files, file{path: in, src: p, mode: 0o644 | int64(info.Mode().Perm()&0o111)})
		}
		return nil
	})
	if err != nil {
		return imageSpec{}, fmt.Errorf("reading %s: %w", modules, err)
	}
	return imageSpec{ref: nodeExecutorImage, files: files, cmd: []string{"node", "/" + nodeExecutorDir + "/executor.js"},
		env: []string{"PATH=/usr/local/bin:/bin"}}, nil
}

// sharedLibraries lists the shared libraries that binary loads, its
// dynamic loader included, as ldd finds them on this machine; none for a
// static binary.
func sharedLibraries(binary string) ([]string, error) {
	out, err := exec.Command("ldd", binary).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not a dynamic executable") {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %w: %s", binary, err, out)
	}
	return parseLdd(string(out))
}

// parseLdd reads the absolute paths of the libraries in ldd's output:
// "name => /path (0x...)" and the loader's "/path (0x...)"; the vDSO has no
// file. A library that ldd cannot find is an error.
func parseLdd(out string) ([]string, error) {
	var libs []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.Contains(line, "statically linked") {
			continue
		}
		if name, path, ok := strings.Cut(line, "=>"); ok {
			fields := strings.Fields(path)
			if len(fields) == 0 || fields[0] == "not" {
				return nil, fmt.Errorf("ldd cannot find the library %s", strings.TrimSpace(name))
			}
			if strings.HasPrefix(fields[0], "/") {
				libs = append(libs, fields[0])
			}
			continue
		}
		if fields := strings.Fields(line); strings.HasPrefix(fields[0], "/") {
			libs = append(libs, fields[0])
		}
	}
	return libs, nil
}

// busyboxApplets asks the static busybox which commands it provides.
func busyboxApplets() ([]string, error) {
	out, err := exec.Command(busyboxBinary, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list (install Debian's busybox-static; `make cluster-up` does): %w", busyboxBinary, err)
	}
	applets := strings.Fields(string(out))
	sort.Strings(applets)
	return applets, nil
}

// layer builds the uncompressed tar of an image's files.
func (s imageSpec) layer() ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	for _, f := range s.files {
		h := &tar.Header{Name: f.path, Mode: f.mode, ModTime: epoch, Format: tar.FormatPAX}
		var body []byte
		switch {
		case f.dir:
			h.Typeflag, h.Name = tar.TypeDir, f.path+"/"
		case f.linkname != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, f.linkname, 0o777
		case f.src != "":
			b, err := os.ReadFile(f.src)
			if err != nil {
				return nil, fmt.Errorf("image %s: %w", s.ref, err)
			}
			body = b
		default:
			body = f.content
		}
		if h.Typeflag == 0 {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// build makes the image with go-containerregistry: one layer on an empty
// base, and a config for this machine's platform.
func (s imageSpec) build() (v1.Image, error) {
	raw, err := s.layer()
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		tarball.WithCompressionLevel(gzip.BestSpeed))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
	cfg.Config.Entrypoint, cfg.Config.Cmd, cfg.Config.User, cfg.Config.Env = s.entrypoint, s.cmd, s.user, s.env
	return mutate.ConfigFile(img, cfg)
}

// archiveName is the file an image is written to.
func archiveName(ref string) string {
	return strings.NewReplacer("/", "_", ":", "_").Replace(ref) + ".tar"
}

// buildImages writes every image as a docker-archive tarball into outDir
// and returns their paths.
func buildImages(repo, binDir, outDir string) ([]string, error) {
	specs, err := imageSpecs(repo, binDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, s := range specs {
		img, err := s.build()
		if err != nil {
			return nil, fmt.Errorf("building %s: %w", s.ref, err)
		}
		tag, err := name.NewTag(s.ref)
		if err != nil {
			return nil, err
		}
		p := filepath.Join(outDir, archiveName(s.ref))
		if err := tarball.WriteToFile(p+".tmp", tag, img); err != nil {
			return nil, fmt.Errorf("writing %s: %w", s.ref, err)
		}
		if err := os.Rename(p+".tmp", p); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}
