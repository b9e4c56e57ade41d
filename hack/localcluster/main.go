// Command localcluster runs a local Kubernetes control plane for the demo
// and the e2e tests: etcd and kube-apiserver built into bin/ by `make tools`,
// with RBAC authorization and service-account signing keys, and the
// kubemesos CRDs installed.
//
//	localcluster up --dir .localcluster     # runs in the foreground until SIGTERM
//	localcluster down --dir .localcluster   # stops a running cluster
//
// `up` writes <dir>/kubeconfig once the API server is ready, and
// <dir>/localcluster.pid. `make cluster-up` runs it in the background.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kubemesos/kubemesos/internal/testenv"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", ".localcluster", "Directory for the kubeconfig, the pid file and the logs.")
	timeout := fs.Duration("timeout", 30*time.Second, "How long `down` waits for the cluster to stop before it kills it.")
	_ = fs.Parse(os.Args[2:])

	var err error
	switch os.Args[1] {
	case "up":
		err = up(*dir)
	case "down":
		err = down(*dir, *timeout)
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "localcluster:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: localcluster up|down [--dir DIR]

  up     start etcd and kube-apiserver from bin/, install the kubemesos CRDs,
         write DIR/kubeconfig, and run until SIGTERM or SIGINT
  down   stop the cluster whose pid is in DIR/localcluster.pid`)
}

func up(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	_ = os.Remove(kubeconfig)
	pidFile := filepath.Join(dir, "localcluster.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", pidFile, err)
	}
	defer os.Remove(pidFile)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "localcluster: stopping the control plane:", err)
		}
	}()
	// Write the kubeconfig through a temporary file: its appearance tells
	// `make cluster-up` that the cluster is ready.
	if err := env.WriteKubeconfig(kubeconfig + ".tmp"); err != nil {
		return err
	}
	if err := os.Rename(kubeconfig+".tmp", kubeconfig); err != nil {
		return fmt.Errorf("publishing the kubeconfig: %w", err)
	}
	fmt.Printf("localcluster: API server %s ready; kubeconfig %s\n", env.Config.Host, kubeconfig)
	<-stop
	fmt.Println("localcluster: stopping")
	_ = os.Remove(kubeconfig)
	return nil
}

func down(dir string, timeout time.Duration) error {
	pidFile := filepath.Join(dir, "localcluster.pid")
	raw, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Println("localcluster: not running")
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", pidFile, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return fmt.Errorf("%s holds %q, not a pid: %w", pidFile, raw, err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		_ = os.Remove(pidFile)
		fmt.Println("localcluster: not running")
		return nil
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			fmt.Println("localcluster: stopped")
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The process group holds etcd and kube-apiserver too.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = os.Remove(pidFile)
	return fmt.Errorf("the cluster (pid %d) did not stop within %s and was killed", pid, timeout)
}
