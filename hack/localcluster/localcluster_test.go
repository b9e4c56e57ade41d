package main

import (
	"archive/tar"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"
)

// repoRoot is the kubemesos repository, two levels up.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestKubemesosImageIsTheDockerfiles: the image built here has the
// Dockerfile's user, entrypoint, PATH and binaries, and the chart's tag.
func TestKubemesosImageIsTheDockerfiles(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	bin := t.TempDir()
	for _, b := range []string{"kubemesos", "montecarloarea"} {
		if err := os.WriteFile(filepath.Join(bin, b), []byte("#!"+b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tag, err := kubemesosTag(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	spec := kubemesosImage(tag, bin)
	img, err := spec.build()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	user := regexp.MustCompile(`(?m)^USER (\S+)`).FindStringSubmatch(df)
	env := regexp.MustCompile(`(?m)^ENV (\S+)`).FindStringSubmatch(df)
	entry := regexp.MustCompile(`(?m)^ENTRYPOINT (\[.*\])`).FindStringSubmatch(df)
	copyTo := regexp.MustCompile(`(?m)^COPY --from=build (.*) (\S+)$`).FindStringSubmatch(df)
	if user == nil || env == nil || entry == nil || copyTo == nil {
		t.Fatalf("the Dockerfile lacks USER, ENV, ENTRYPOINT or its COPY of the binaries")
	}
	var wantEntry []string
	if err := json.Unmarshal([]byte(entry[1]), &wantEntry); err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != user[1] || cfg.Config.Env[0] != env[1] || !cmp.Equal(cfg.Config.Entrypoint, wantEntry) || cfg.OS != "linux" {
		t.Errorf("image config %+v (os %s); the Dockerfile says USER %s, ENV %s, ENTRYPOINT %v", cfg.Config, cfg.OS, user[1], env[1], wantEntry)
	}
	var wantFiles []string
	for _, src := range strings.Fields(copyTo[1]) {
		wantFiles = append(wantFiles, strings.TrimPrefix(filepath.Join(copyTo[2], filepath.Base(src)), "/"))
	}
	files := layerFiles(t, img)
	for _, f := range wantFiles {
		if files[f] != tar.TypeReg {
			t.Errorf("the image lacks %s, which the Dockerfile copies (it has %v)", f, files)
		}
	}
	if spec.ref != "kubemesos/kubemesos:"+tag {
		t.Errorf("image %s, want the chart's appVersion %s as tag", spec.ref, tag)
	}
}

// layerFiles lists an image's files and their tar types.
func layerFiles(t *testing.T, img v1.Image) map[string]byte {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(h.Name, "/")] = h.Typeflag
	}
}

// TestImageLayer: directories, files, contents and symlinks land in the
// layer as specified.
func TestImageLayer(t *testing.T) {
	spec := imageSpec{ref: "example/test:1", files: []file{{path: "bin", dir: true, mode: 0o755},
		{path: "bin/tool", content: []byte("x"), mode: 0o755}, {path: "bin/alias", linkname: "tool"}},
		cmd: []string{"tool"}}
	img, err := spec.build()
	if err != nil {
		t.Fatal(err)
	}
	got := layerFiles(t, img)
	want := map[string]byte{"bin": tar.TypeDir, "bin/tool": tar.TypeReg, "bin/alias": tar.TypeSymlink}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("layer (-want +got):\n%s", d)
	}
	if _, err := (imageSpec{ref: "x:1", files: []file{{path: "missing", src: "/nonexistent/file"}}}).build(); err == nil {
		t.Error("an image of a missing binary was built")
	}
}

// TestKubeletConfigIsStrictlyValid: every field of the generated
// KubeletConfiguration is one the kubelet knows.
func TestKubeletConfigIsStrictlyValid(t *testing.T) {
	n := newNode(t.TempDir(), "/bin", 2)
	raw, err := n.kubeletConfig("/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	var cfg kubeletv1beta1.KubeletConfiguration
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		t.Fatalf("the kubelet config has fields the kubelet does not know: %v\n%s", err, raw)
	}
	if cfg.CgroupRoot != "/kubemesos/node-2" || cfg.Address != nodeIP(2) || cfg.CgroupDriver != "cgroupfs" || cfg.Authentication.Anonymous.Enabled == nil || *cfg.Authentication.Anonymous.Enabled {
		t.Errorf("kubelet config %+v", cfg)
	}
	if p := cfg.CrashLoopBackOff.MaxContainerRestartPeriod; p == nil || p.Duration != 2*time.Second {
		t.Errorf("crash-loop backoff cap %v, want 2s", p)
	}
	// No eviction for the disk, which the machine shares: every signal of
	// it listed with 0%, which the kubelet ignores, and the kubelet's
	// defaults not merged in.
	for _, s := range []string{"nodefs.available", "nodefs.inodesFree", "imagefs.available", "imagefs.inodesFree", "containerfs.available", "containerfs.inodesFree"} {
		if v := cfg.EvictionHard[s]; v != "0%" {
			t.Errorf("evictionHard[%s] = %q, want 0%% (no eviction for the shared disk)", s, v)
		}
	}
	if cfg.EvictionHard["memory.available"] == "" || (cfg.MergeDefaultEvictionSettings != nil && *cfg.MergeDefaultEvictionSettings) {
		t.Errorf("evictionHard %v, merge defaults %v: want memory's threshold alone", cfg.EvictionHard, cfg.MergeDefaultEvictionSettings)
	}
}

// TestCNIConfig: each node's pods get its own range.
func TestCNIConfig(t *testing.T) {
	for i := 1; i <= 3; i++ {
		raw, err := newNode(t.TempDir(), "/bin", i).cniConfig()
		if err != nil {
			t.Fatal(err)
		}
		var conf struct {
			Plugins []struct {
				Type string
				IPAM struct {
					Ranges [][]struct{ Subnet string }
				}
			}
		}
		if err := json.Unmarshal(raw, &conf); err != nil {
			t.Fatal(err)
		}
		if conf.Plugins[0].Type != "bridge" || conf.Plugins[0].IPAM.Ranges[0][0].Subnet != podCIDR(i) {
			t.Errorf("node %d: CNI config %s", i, raw)
		}
	}
}

// TestPKI: the API server's certificate covers every address clients use,
// and a node's client certificate names it as the Node authorizer expects.
func TestPKI(t *testing.T) {
	dir := t.TempDir()
	p, err := newPKI(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	cp := &controlPlane{dir: dir, pki: p}
	if err := os.MkdirAll(filepath.Join(dir, "nodes", "node-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := cp.certificates(1); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.caCert)
	server := readCert(t, p.path("apiserver.crt"))
	for _, host := range []string{controlPlaneIP, kubernetesSvcIP, "127.0.0.1", "kubernetes.default.svc"} {
		if _, err := server.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Errorf("the API server's certificate does not serve %s: %v", host, err)
		}
	}
	node := readCert(t, p.path("node-1.crt"))
	if node.Subject.CommonName != "system:node:node-1" || !cmp.Equal(node.Subject.Organization, []string{"system:nodes"}) {
		t.Errorf("node certificate subject %v", node.Subject)
	}
	if _, err := node.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the node's client certificate: %v", err)
	}
	if !fileExists(filepath.Join(dir, "nodes", "node-1", "kubelet.kubeconfig")) || !fileExists(p.path("sa.key")) {
		t.Error("the kubelet's kubeconfig or the ServiceAccount key is missing")
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(raw)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAddresses: nodes, pod ranges and the Service address never overlap.
func TestAddresses(t *testing.T) {
	_, svc, _ := net.ParseCIDR(serviceCIDR)
	seen := map[string]bool{controlPlaneIP: true}
	for i := 1; i <= 9; i++ {
		_, pods, err := net.ParseCIDR(podCIDR(i))
		if err != nil {
			t.Fatal(err)
		}
		if seen[nodeIP(i)] || pods.Contains(net.ParseIP(nodeIP(i))) || svc.Contains(pods.IP) || seen[pods.String()] {
			t.Errorf("node %d: address %s or pod range %s overlaps", i, nodeIP(i), pods)
		}
		seen[nodeIP(i)], seen[pods.String()] = true, true
	}
	if !svc.Contains(net.ParseIP(kubernetesSvcIP)) {
		t.Errorf("the kubernetes Service address %s is outside %s", kubernetesSvcIP, serviceCIDR)
	}
}

// TestUnescapeMount: mountinfo's octal escapes are undone.
func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", "/plain": "/plain", `/tab\011x`: "/tab\tx", `/trailing\`: `/trailing\`} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
	mps, err := mountsUnder("/proc")
	if err != nil || len(mps) == 0 || mps[len(mps)-1] != "/proc" {
		t.Errorf("mounts under /proc: %v, %v; want /proc last (deepest first)", mps, err)
	}
	if !sort.SliceIsSorted(mps, func(i, j int) bool { return len(mps[i]) > len(mps[j]) }) {
		t.Errorf("not deepest first: %v", mps)
	}
}

// TestNodeExecutorImage: the npm library's executor image has node, the
// shared libraries it loads, busybox's shell, executor.js and the npm
// packages, each after its directory.
func TestNodeExecutorImage(t *testing.T) {
	repo := t.TempDir()
	src := filepath.Join(repo, "test", "e2e", "mesosframework")
	for p, content := range map[string]string{
		"executor.js": "// executor", "node_modules/mesos-framework/package.json": "{}", "node_modules/mesos-framework/lib/executor.js": "//",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bb := []file{{path: "bin", dir: true, mode: 0o755}, {path: "bin/busybox", content: []byte("bb"), mode: 0o755}, {path: "bin/sh", linkname: "busybox"}}
	spec, err := nodeExecutorSpec(repo, bb)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{"": true}
	for _, f := range spec.files {
		if dir := filepath.Dir(f.path); dir != "." && !have[dir] {
			t.Errorf("%s comes before its directory %s", f.path, dir)
		}
		if have[f.path] {
			t.Errorf("%s is in the layer twice", f.path)
		}
		have[f.path] = true
	}
	for _, want := range []string{"bin/sh", "usr/local/bin/node", nodeExecutorDir + "/executor.js", nodeExecutorDir + "/node_modules/mesos-framework/lib/executor.js"} {
		if !have[want] {
			t.Errorf("the image has no %s", want)
		}
	}
	node, _ := exec.LookPath("node")
	node, _ = filepath.EvalSymlinks(node)
	libs, err := sharedLibraries(node)
	if err != nil {
		t.Fatal(err)
	}
	for _, lib := range libs {
		if !have[strings.TrimPrefix(lib, "/")] {
			t.Errorf("the image lacks %s, which node loads", lib)
		}
	}
	if spec.ref != nodeExecutorImage || !slices.Contains(spec.env, "PATH=/usr/local/bin:/bin") {
		t.Errorf("image %s with env %q", spec.ref, spec.env)
	}
	if _, err := nodeExecutorSpec(t.TempDir(), bb); err == nil || !strings.Contains(err.Error(), "npm ci") {
		t.Errorf("without the npm packages: %v, want an error saying to run npm ci", err)
	}
}

// TestParseLdd: the libraries of ldd's output, the loader's included, not
// the vDSO; a library ldd cannot find is an error.
func TestParseLdd(t *testing.T) {
	out := "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f)\n" +
		"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n"
	got, err := parseLdd(out)
	want := []string{"/lib/x86_64-linux-gnu/libdl.so.2", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("parseLdd = %q, %v; want %q", got, err, want)
	}
	if got, err := parseLdd("\tstatically linked\n"); err != nil || len(got) != 0 {
		t.Errorf("a static binary: %q, %v", got, err)
	}
	if _, err := parseLdd("\tlibfoo.so.1 => not found\n"); err == nil || !strings.Contains(err.Error(), "libfoo.so.1") {
		t.Errorf("a missing library: %v, want an error naming it", err)
	}
}

// FuzzParseLdd: whatever ldd prints, parseLdd returns absolute paths or an
// error.
func FuzzParseLdd(f *testing.F) {
	for _, s := range []string{"", "\tlinux-vdso.so.1 (0x1)\n", "\tlibc.so.6 => /lib/libc.so.6 (0x1)\n", "\t/lib64/ld.so (0x1)\n", "x =>", "=> not found", " \n\t=>\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		libs, err := parseLdd(s)
		if err != nil {
			return
		}
		for _, l := range libs {
			if !strings.HasPrefix(l, "/") || strings.ContainsAny(l, " \t\n") {
				t.Fatalf("parseLdd(%q) gave %q", s, libs)
			}
		}
	})
}

// TestSuperviseStartsSchedulerAgain: kube-scheduler and
// kube-controller-manager are started again when they exit, as a real
// cluster's kubelet would; etcd that exits stays down.
func TestSuperviseStartsSchedulerAgain(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the processes join a tracking cgroup, which needs root")
	}
	if _, err := os.Stat(trackingHierarchy); err != nil {
		t.Skipf("no cgroup v1 %s here: %v", trackingHierarchy, err)
	}
	dir := t.TempDir()
	rel := "supervise-test-" + strconv.Itoa(os.Getpid())
	t.Cleanup(func() { _ = os.Remove(cgroupDir(rel)) })
	mk := func(name string) *proc {
		// nsenter's own network namespace, through /run/netns's parent.
		return &proc{name: name, netns: "../../proc/self/ns/net", cgroup: rel, argv: []string{"sh", "-c", "echo started; exit 1"}, log: filepath.Join(dir, name+".log")}
	}
	c := &cluster{cp: []*proc{mk("etcd"), mk("kube-scheduler"), mk("kube-controller-manager")}}
	for _, p := range c.cp {
		if err := p.start(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
	defer cancel()
	c.supervise(ctx, nil)
	for _, p := range c.cp {
		<-p.done
	}
	for name, again := range map[string]bool{"etcd": false, "kube-scheduler": true, "kube-controller-manager": true} {
		raw, err := os.ReadFile(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		n := strings.Count(string(raw), "started")
		if again && n < 2 || !again && n != 1 {
			t.Errorf("%s started %d times (started again on exit: %v)", name, n, again)
		}
	}
}
