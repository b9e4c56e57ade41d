// Command localcluster runs a local Kubernetes cluster for the demo and the
// e2e tests, from the binaries that `make tools` builds into bin/: etcd,
// kube-apiserver (RBAC, service-account signing keys, the kubemesos CRDs),
// kube-controller-manager and kube-scheduler, plus N nodes whose pods run as
// host processes (see kubelet.go). Image names map to local binaries through
// hack/localcluster/images.txt.
//
//	localcluster up --dir .localcluster     # runs in the foreground until SIGTERM
//
// The kubemesos CRDs are not installed: the Helm chart installs them.
//
//	localcluster down --dir .localcluster   # stops a running cluster
//
// `up` writes <dir>/kubeconfig once the API server is ready, and
// <dir>/localcluster.pid. `make cluster-up` runs it in the background.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

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
	o := upOptions{}
	fs.IntVar(&o.nodes, "nodes", 3, "Nodes of the cluster; 0 runs the control plane alone.")
	fs.StringVar(&o.cpu, "node-cpu", "4", "CPU capacity of each node.")
	fs.StringVar(&o.memory, "node-memory", "8Gi", "Memory capacity of each node.")
	fs.StringVar(&o.images, "images", "hack/localcluster/images.txt", "Map of image repositories to directories of binaries.")
	_ = fs.Parse(os.Args[2:])

	var err error
	switch os.Args[1] {
	case "up":
		err = up(*dir, o)
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

type upOptions struct {
	nodes       int
	cpu, memory string
	images      string
}

func up(dir string, o upOptions) error {
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

	env, err := testenv.StartControlPlane()
	if err != nil {
		return err
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "localcluster: stopping the control plane:", err)
		}
	}()
	if err := env.WriteKubeconfig(kubeconfig + ".tmp"); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if o.nodes > 0 {
		if err := startNodes(ctx, env, dir, kubeconfig+".tmp", o); err != nil {
			return err
		}
	}
	// The kubeconfig's appearance tells `make cluster-up` that the cluster
	// is ready.
	if err := os.Rename(kubeconfig+".tmp", kubeconfig); err != nil {
		return fmt.Errorf("publishing the kubeconfig: %w", err)
	}
	fmt.Printf("localcluster: API server %s ready; kubeconfig %s\n", env.Config.Host, kubeconfig)
	<-stop
	fmt.Println("localcluster: stopping")
	_ = os.Remove(kubeconfig)
	cancel()
	time.Sleep(3 * time.Second) // let the nodes stop their pods
	return nil
}

// startNodes starts kube-controller-manager, kube-scheduler and the nodes,
// and waits until every node is Ready.
func startNodes(ctx context.Context, env *testenv.Env, dir, kubeconfig string, o upOptions) error {
	images, err := readImages(o.images)
	if err != nil {
		return err
	}
	api := env.Environment.ControlPlane.GetAPIServer()
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, env.Config.CAData, 0o644); err != nil {
		return err
	}
	bin := testenv.AssetsDir()
	procs := [][]string{
		{filepath.Join(bin, "kube-controller-manager"), "--kubeconfig=" + kubeconfig, "--leader-elect=false", "--secure-port=0",
			"--service-account-private-key-file=" + filepath.Join(api.CertDir, "sa-signer.key"), "--root-ca-file=" + caFile,
			"--controllers=*,-nodeipam"},
		{filepath.Join(bin, "kube-scheduler"), "--kubeconfig=" + kubeconfig, "--leader-elect=false", "--secure-port=0"},
	}
	for _, argv := range procs {
		logf, err := os.Create(filepath.Join(dir, filepath.Base(argv[0])+".log"))
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("starting %s: %w", argv[0], err)
		}
		go func() { _ = cmd.Wait(); logf.Close() }()
	}
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return err
	}
	for i := 1; i <= o.nodes; i++ {
		k := &kubelet{name: fmt.Sprintf("node-%d", i), ip: fmt.Sprintf("127.0.1.%d", i), cpu: o.cpu, mem: o.memory,
			dir: filepath.Join(dir, "nodes", fmt.Sprintf("node-%d", i)), images: images, cs: cs, apiHost: env.Config.Host,
			caData: env.Config.CAData, logPort: 10250, pods: map[string]*podProc{}}
		go func() {
			if err := k.run(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "localcluster:", k.name, err)
			}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		sa, saErr := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		if err == nil && len(nodes.Items) == o.nodes && saErr == nil && sa != nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the nodes or the default ServiceAccount did not appear within 60s; see %s", dir)
}

// readImages reads "repository: directory" lines; directories are relative
// to the repository root.
func readImages(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the image map: %w", err)
	}
	root, _ := filepath.Abs(testenv.RepoRoot())
	out := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		repo, dir, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%s: %q is not \"repository: directory\"", path, line)
		}
		d := strings.TrimSpace(dir)
		if !filepath.IsAbs(d) {
			d = filepath.Join(root, d)
		}
		out[strings.TrimSpace(repo)] = d
	}
	return out, nil
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
