// Package testenv starts a real control plane (etcd and kube-apiserver built
// into bin/ by `make tools`) for the envtest integration suites, with the
// kubemesos CRDs installed. Nothing is downloaded.
package testenv

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kubemesos/kubemesos/internal/scheme"
)

// KubeVersion is the version of the control-plane binaries under bin/k8s.
const KubeVersion = "v1.37.2"

// Env is a running control plane with a client for it.
type Env struct {
	// Environment is the envtest environment; Stop it when done.
	Environment *envtest.Environment
	// Config is an admin rest.Config for the API server.
	Config *rest.Config
	// Client is an uncached client with the kubemesos scheme.
	Client client.Client
}

// RepoRoot returns the root of the kubemesos repository.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// AssetsDir returns the directory of etcd, kube-apiserver and kubectl:
// $KUBEBUILDER_ASSETS when set, else bin/k8s/<version> in the repository.
func AssetsDir() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "bin", "k8s", KubeVersion)
}

// Helm returns the path of helm: $HELM_BIN when set (the Makefile sets
// it), else bin/helm in the repository.
func Helm() string {
	if b := os.Getenv("HELM_BIN"); b != "" {
		return b
	}
	return filepath.Join(RepoRoot(), "bin", "helm")
}

// Kubectl returns the path of the kubectl built with the control plane.
func Kubectl() string { return filepath.Join(AssetsDir(), "kubectl") }

// Start starts etcd and kube-apiserver and installs the kubemesos CRDs.
// It fails with a hint to run `make tools` when the binaries are missing.
func Start() (*Env, error) { return StartWith(true, nil) }

// StartControlPlane starts etcd and kube-apiserver without the kubemesos
// CRDs, for a cluster that installs them itself (with helm).
func StartControlPlane() (*Env, error) { return StartWith(false, nil) }

// StartWith is Start (crds) or StartControlPlane (!crds) with more flags
// for kube-apiserver, by name without the dashes, for example its audit
// log's.
func StartWith(crds bool, apiServerFlags map[string]string) (*Env, error) {
	assets := AssetsDir()
	for _, b := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			return nil, fmt.Errorf("control-plane binary %s not found in %s: run `make tools` (or `make test`, which builds it): %w", b, assets, err)
		}
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		// Generous bounds for a loaded 2-core machine; they only bound
		// how long a broken start may take, never a passing one.
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
		CRDInstallOptions:        envtest.CRDInstallOptions{MaxTime: 2 * time.Minute, PollInterval: 200 * time.Millisecond},
		Scheme:                   scheme.New(),
	}
	// kubectl logs reaches a node by its address, never by a DNS name.
	env.ControlPlane.GetAPIServer().Configure().Set("kubelet-preferred-address-types", "InternalIP")
	for name, value := range apiServerFlags {
		env.ControlPlane.GetAPIServer().Configure().Set(name, value)
	}
	if crds {
		env.CRDDirectoryPaths = []string{filepath.Join(RepoRoot(), "config", "crd", "bases")}
		env.ErrorIfCRDPathMissing = true
	} else {
		// A real cluster: pods get their ServiceAccount, so bound tokens work.
		env.ControlPlane.GetAPIServer().Configure().Disable("disable-admission-plugins")
	}
	cfg, err := env.Start()
	if err != nil {
		// Start can fail after etcd and kube-apiserver are up (for
		// example on a CRD the server refuses): stop them.
		_ = env.Stop()
		return nil, fmt.Errorf("starting envtest from %s: %w", assets, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("creating a client: %w", err)
	}
	return &Env{Environment: env, Config: cfg, Client: c}, nil
}

// Stop stops the control plane.
func (e *Env) Stop() error { return e.Environment.Stop() }

// WriteKubeconfig writes an admin kubeconfig for the API server to path, for
// kubectl and helm.
func (e *Env) WriteKubeconfig(path string) error {
	user, err := e.Environment.AddUser(envtest.User{Name: "kubemesos-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding an admin user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("rendering the kubeconfig: %w", err)
	}
	return os.WriteFile(path, kc, 0o600)
}

// Main is the TestMain of an envtest suite: it starts the control plane
// into *env, runs the tests, and stops it. Logs are off unless
// KUBEMESOS_TEST_DEBUG is set. A process that runs no test (see RunsNoTest)
// starts no control plane and leaves *env nil.
func Main(m *testing.M, env **Env) {
	if RunsNoTest() {
		ctrl.SetLogger(logr.Discard())
		os.Exit(m.Run())
	}
	if os.Getenv("KUBEMESOS_TEST_DEBUG") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	} else {
		ctrl.SetLogger(logr.Discard())
	}
	e, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*env = e
	code := m.Run()
	if err := e.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping envtest:", err)
	}
	os.Exit(code)
}

// Eventually polls cond every 50 ms until it holds, and fails the test if
// within passes first. within only bounds how long a broken build takes to
// fail; it is never a speed requirement.
func Eventually(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RunsNoTest reports whether this test binary runs no Test function, so
// that an envtest suite need not start a control plane: it only lists its
// tests and fuzz targets (-test.list), it is a worker of a fuzzing run
// (-test.fuzzworker: each worker is a process of its own that runs the
// fuzz function alone), or it coordinates a fuzzing run whose -test.run
// selects nothing (-run '^$', as `make fuzz` runs it). A fuzzing run that
// also runs the tests starts one control plane, in the coordinator only.
// It parses the flags if they are not yet parsed.
func RunsNoTest() bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	value := func(name string) string {
		if f := flag.Lookup(name); f != nil {
			return f.Value.String()
		}
		return ""
	}
	return value("test.list") != "" || value("test.fuzzworker") == "true" ||
		(value("test.fuzz") != "" && value("test.run") == "^$")
}
