// Command localcluster runs a local Kubernetes cluster with real nodes for
// the demo and the e2e tests, from binaries built into bin/ and packages
// of the machine (containerd, runc, the CNI plugins):
//
//   - a control plane: etcd, kube-apiserver (TLS, the Node and RBAC
//     authorizers, NodeRestriction and Pod Security admission, an audit log
//     of the kubemesos master's writes in <dir>/audit.log, rotated at 100
//     MiB into <dir>/audit-<time>.log, the last 8 kept),
//     kube-controller-manager and kube-scheduler;
//   - N nodes, each a real kubelet with its own containerd, runc, state
//     directories, cgroup, network namespace and address, joined with its
//     own client certificate; pods get addresses from the CNI bridge plugin
//     and reach the other nodes and the API server;
//   - images built here from static binaries with go-containerregistry and
//     imported into every node's containerd: the kubemesos binaries tagged
//     with the chart's appVersion, busybox:stable, the pause image, and the
//     e2e test's custom Mesos executors (mesos-go's, and the npm library's
//     on this machine's Node.js).
//
// Every address lives in network namespaces that `up` creates; the machine
// reaches the API server through a loopback port that `up` forwards.
//
//	localcluster up --dir .localcluster     # runs in the foreground until SIGTERM
//	localcluster down --dir .localcluster   # stops it; nothing is left behind
//	localcluster load --dir .localcluster   # rebuilds the images, imports them into every node
//
// `up` writes <dir>/kubeconfig once every node is Ready. It must run as
// root (network namespaces, mounts, cgroups).
package main

import (
	"context"
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
)

type options struct {
	dir     string
	nodes   int
	repo    string
	bin     string
	kubeBin string
	timeout time.Duration
}

func main() {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		usage()
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	fs.Usage = usage
	var o options
	fs.StringVar(&o.dir, "dir", ".localcluster", "Directory of the cluster: kubeconfig, logs, certificates, node state.")
	fs.IntVar(&o.nodes, "nodes", 3, "Number of nodes (1 to 9).")
	fs.StringVar(&o.repo, "repo", ".", "The kubemesos repository (for the chart's appVersion, the image tag).")
	fs.StringVar(&o.bin, "bin", "bin", "Directory of kubemesos, montecarloarea and pause, the images' binaries.")
	fs.StringVar(&o.kubeBin, "kube-bin", "", "Directory of etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubelet (default <bin>/k8s/v1.37.2).")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "How long `down` waits for the cluster to stop before it kills what is left.")
	_ = fs.Parse(os.Args[2:])
	if o.kubeBin == "" {
		o.kubeBin = filepath.Join(o.bin, "k8s", "v1.37.2")
	}
	for _, p := range []*string{&o.dir, &o.repo, &o.bin, &o.kubeBin} {
		*p, _ = filepath.Abs(*p)
	}
	if o.nodes < 1 || o.nodes > 9 {
		fmt.Fprintln(os.Stderr, "localcluster: --nodes must be between 1 and 9")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "up":
		err = up(o)
	case "down":
		err = down(o)
	case "load":
		err = load(o)
	case "restart-apiserver":
		err = signalUp(o, syscall.SIGHUP)
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
	fmt.Fprintln(os.Stderr, `usage: localcluster up|down|load|restart-apiserver [flags]

  up     start the control plane and the nodes, build and import the images,
         write DIR/kubeconfig when every node is Ready, run until SIGTERM
  down   stop the cluster whose pid is in DIR/localcluster.pid, then remove
         every process, mount and network namespace a cluster left behind
  load   rebuild the images from BIN and import them into every running node
  restart-apiserver
         stop the running cluster's kube-apiserver and start it again (same
         flags and data); returns at once, the API server is back seconds later

flags:
  --dir DIR        the cluster's directory (default .localcluster)
  --nodes N        nodes, 1 to 9 (default 3)
  --repo DIR       the kubemesos repository (default .)
  --bin DIR        the images' binaries (default bin)
  --kube-bin DIR   the Kubernetes binaries (default BIN/k8s/v1.37.2)
  --timeout D      how long down waits before it kills (default 60s)`)
}

// checkHost says what is missing before anything starts.
func checkHost(o options) error {
	if os.Geteuid() != 0 {
		return errors.New("the local cluster needs root (network namespaces, mounts, cgroups)")
	}
	var missing []string
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"} {
		if !fileExists(filepath.Join(o.kubeBin, b)) {
			missing = append(missing, filepath.Join(o.kubeBin, b)+" (make tools)")
		}
	}
	for _, b := range []string{"kubemesos", "montecarloarea", "pause"} {
		if !fileExists(filepath.Join(o.bin, b)) {
			missing = append(missing, filepath.Join(o.bin, b)+" (make build)")
		}
	}
	for _, b := range []string{"/usr/bin/containerd", "/usr/bin/ctr", "/usr/sbin/runc", cniBinDir + "/bridge", busyboxBinary, "/usr/sbin/iptables", "/usr/bin/nsenter"} {
		if !fileExists(b) {
			missing = append(missing, b+" (make node-packages)")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing: %s", strings.Join(missing, ", "))
	}
	return nil
}

func up(o options) error {
	if err := checkHost(o); err != nil {
		return err
	}
	// A new cluster: remove what an earlier one left.
	if err := sweep(o.dir); err != nil {
		return fmt.Errorf("cleaning up an earlier cluster: %w", err)
	}
	for _, d := range []string{"nodes", "etcd", "pki", "images"} {
		if err := os.RemoveAll(filepath.Join(o.dir, d)); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	kubeconfig := filepath.Join(o.dir, "kubeconfig")
	_ = os.Remove(kubeconfig)
	pidFile := filepath.Join(o.dir, "localcluster.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	defer os.Remove(pidFile)

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	c := &cluster{o: o}
	defer c.shutdown()
	if err := c.start(ctx); err != nil {
		return err
	}
	if err := c.writeKubeconfig(kubeconfig); err != nil {
		return err
	}
	fmt.Printf("localcluster: %d nodes Ready; API server %s; kubeconfig %s\n", o.nodes, c.proxy.addr(), kubeconfig)
	restart := make(chan os.Signal, 1)
	signal.Notify(restart, syscall.SIGHUP)
	defer signal.Stop(restart)
	c.supervise(ctx, restart)
	fmt.Println("localcluster: stopping")
	_ = os.Remove(kubeconfig)
	return nil
}

// signalUp sends sig to the running cluster's `up` process.
func signalUp(o options, sig syscall.Signal) error {
	raw, err := os.ReadFile(filepath.Join(o.dir, "localcluster.pid"))
	if err != nil {
		return fmt.Errorf("no cluster runs in %s: %w", o.dir, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return fmt.Errorf("reading %s: %w", filepath.Join(o.dir, "localcluster.pid"), err)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("signalling the cluster (pid %d): %w", pid, err)
	}
	return nil
}

func down(o options) error {
	pidFile := filepath.Join(o.dir, "localcluster.pid")
	if raw, err := os.ReadFile(pidFile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && syscall.Kill(pid, syscall.SIGTERM) == nil {
			deadline := time.Now().Add(o.timeout)
			for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
			}
			if syscall.Kill(pid, 0) == nil {
				fmt.Fprintf(os.Stderr, "localcluster: pid %d did not stop within %s; killing it\n", pid, o.timeout)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		_ = os.Remove(pidFile)
	}
	_ = os.Remove(filepath.Join(o.dir, "kubeconfig"))
	if err := sweep(o.dir); err != nil {
		return err
	}
	fmt.Println("localcluster: stopped; no process, mount or network namespace left")
	return nil
}

// load rebuilds the images and imports them into the running nodes.
func load(o options) error {
	archives, err := buildImages(o.repo, o.bin, filepath.Join(o.dir, "images"))
	if err != nil {
		return err
	}
	for i := 1; i <= o.nodes; i++ {
		n := newNode(o.dir, o.kubeBin, i)
		if !fileExists(n.socket()) {
			return fmt.Errorf("%s is not running (no %s): make cluster-up", n.name(), n.socket())
		}
		if err := n.importImages(archives); err != nil {
			return err
		}
	}
	fmt.Printf("localcluster: imported %d images into %d nodes\n", len(archives), o.nodes)
	return nil
}
