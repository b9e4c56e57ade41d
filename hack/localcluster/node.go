package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"sigs.k8s.io/yaml"
)

// runDir holds the nodes' sockets and runtime state, apart from the cluster
// directory so that socket paths stay short wherever the repository is.
const runDir = "/run/kubemesos"

// nodeName is node i's name (1-based).
func nodeName(i int) string { return fmt.Sprintf("node-%d", i) }

// node is one real node: its own containerd (and runc) and kubelet in its
// own network namespace, with its own state directories and cgroup.
type node struct {
	index   int
	dir     string // persistent state: containerd's root, the kubelet's, logs
	run     string // sockets and containerd's state
	kubeBin string
}

func newNode(clusterDir, kubeBin string, i int) *node {
	return &node{index: i, dir: filepath.Join(clusterDir, "nodes", nodeName(i)), run: filepath.Join(runDir, nodeName(i)), kubeBin: kubeBin}
}

func (n *node) name() string   { return nodeName(n.index) }
func (n *node) socket() string { return filepath.Join(n.run, "containerd.sock") }

// cgroup is the node's cgroup: its kubelet's cgroupRoot, under which the
// kubelet puts its pods.
func (n *node) cgroup() string { return "/" + cgroupRoot + "/" + n.name() }

// containerdConfig is containerd's configuration (version 2): the CRI
// plugin with runc, the overlayfs snapshotter, this node's CNI config, the
// local pause image, and restrict_oom_score_adj (the machine lacks
// CAP_SYS_RESOURCE, so a pod's lower oom_score_adj would be refused).
func (n *node) containerdConfig() string {
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
`, filepath.Join(n.dir, "containerd"), filepath.Join(n.run, "containerd"), n.socket(), n.socket()+".ttrpc",
		filepath.Join(n.dir, "opt"), pauseImage, filepath.Join(n.run, "runc"), cniBinDir, filepath.Join(n.dir, "cni", "net.d"))
}

// cniBinDir holds the CNI plugins of Debian's containernetworking-plugins.
const cniBinDir = "/usr/lib/cni"

// cniConfig is the pod network: a bridge in the node's namespace with the
// node's pod range; other nodes' ranges are routed by setupNetwork.
func (n *node) cniConfig() ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       "kubemesos",
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": podCIDR(n.index)}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": filepath.Join(n.dir, "cni", "ipam"),
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// diskSignals are the kubelet's eviction signals of the disk.
var diskSignals = []string{"nodefs.available", "nodefs.inodesFree", "imagefs.available", "imagefs.inodesFree", "containerfs.available", "containerfs.inodesFree"}

// evictionHard is the kubelets' hard eviction thresholds: memory only. The
// nodes' disk is the machine's, shared with whatever else runs there (on a
// CI machine, other jobs): with a threshold of the disk, even 1% (2.5 GB of
// a 252 GB disk), another tenant filling it puts every node under
// DiskPressure at once, which taints them all, so that every agent offers
// nothing, and evicts pods, the kubemesos pods among them, which the
// kubelets refuse to start again while the pressure lasts. A threshold of
// 0% is none (the kubelet ignores it); listing a signal keeps the kubelet
// from defaulting it.
func evictionHard() map[string]string {
	m := map[string]string{"memory.available": "100Mi"}
	for _, s := range diskSignals {
		m[s] = "0%"
	}
	return m
}

// kubeletConfig is the KubeletConfiguration: the cgroupfs driver on cgroup
// v1, this node's cgroup, x509 and webhook authentication, webhook
// authorization, no eviction or image garbage collection that the shared
// machine's disk could trigger (evictionHard), and a crash-loop backoff of
// at most 2 s.
func (n *node) kubeletConfig(caFile string) ([]byte, error) {
	cfg := map[string]any{
		"apiVersion":                  "kubelet.config.k8s.io/v1beta1",
		"kind":                        "KubeletConfiguration",
		"address":                     nodeIP(n.index),
		"port":                        10250,
		"readOnlyPort":                0,
		"healthzBindAddress":          "127.0.0.1",
		"cgroupDriver":                "cgroupfs",
		"cgroupRoot":                  n.cgroup(),
		"failCgroupV1":                false,
		"failSwapOn":                  false,
		"containerRuntimeEndpoint":    "unix://" + n.socket(),
		"podLogsDir":                  filepath.Join(n.dir, "pod-logs"),
		"authentication":              map[string]any{"anonymous": map[string]bool{"enabled": false}, "webhook": map[string]bool{"enabled": true}, "x509": map[string]string{"clientCAFile": caFile}},
		"authorization":               map[string]string{"mode": "Webhook"},
		"clusterDomain":               "cluster.local",
		"evictionHard":                evictionHard(),
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
		"serializeImagePulls":         false,
		"nodeStatusReportFrequency":   "10s",
		"shutdownGracePeriod":         "0s",
		"maxPods":                     110,
		// The fault campaign kills the same containers dozens of times:
		// the default crash-loop backoff (up to 5 min) would measure the
		// kubelet's policy, not kubemesos's recovery.
		"crashLoopBackOff": map[string]string{"maxContainerRestartPeriod": "2s"},
	}
	return yaml.Marshal(cfg)
}

// prepare writes the node's configuration files and creates its cgroup
// in every hierarchy (the kubelet requires its cgroupRoot to exist).
func (n *node) prepare(caFile string) error {
	for _, d := range []string{n.dir, n.run, filepath.Join(n.dir, "cni", "net.d"), filepath.Join(n.dir, "kubelet"), filepath.Join(n.dir, "pod-logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	cni, err := n.cniConfig()
	if err != nil {
		return err
	}
	kc, err := n.kubeletConfig(caFile)
	if err != nil {
		return err
	}
	for path, body := range map[string][]byte{
		filepath.Join(n.dir, "containerd.toml"):                       []byte(n.containerdConfig()),
		filepath.Join(n.dir, "cni", "net.d", "10-kubemesos.conflist"): cni,
		filepath.Join(n.dir, "kubelet.yaml"):                          kc,
	} {
		if err := os.WriteFile(path, body, 0o644); err != nil {
			return err
		}
	}
	return makeCgroup(n.cgroup())
}

// makeCgroup creates a cgroup in every v1 hierarchy; a new cpuset starts
// with its parent's CPUs and memory nodes.
func makeCgroup(path string) error {
	hierarchies, err := filepath.Glob("/sys/fs/cgroup/*")
	if err != nil {
		return err
	}
	for _, h := range hierarchies {
		if fi, err := os.Lstat(h); err != nil || !fi.IsDir() {
			continue // a symlink such as cpu,cpuacct
		}
		parts := strings.Split(strings.Trim(path, "/"), "/")
		dir := h
		for _, p := range parts {
			parent := dir
			dir = filepath.Join(dir, p)
			if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("creating cgroup %s: %w", dir, err)
			}
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				if v, err := os.ReadFile(filepath.Join(parent, f)); err == nil {
					if cur, _ := os.ReadFile(filepath.Join(dir, f)); strings.TrimSpace(string(cur)) == "" {
						if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
							return fmt.Errorf("%s: %w", filepath.Join(dir, f), err)
						}
					}
				}
			}
		}
	}
	return nil
}

// containerd is the node's container runtime process.
func (n *node) containerd() *proc {
	return &proc{name: n.name() + "/containerd", netns: nodeNetns(n.index), cgroup: n.name() + "/runtime",
		argv: []string{"containerd", "--config", filepath.Join(n.dir, "containerd.toml")}, log: filepath.Join(n.dir, "containerd.log")}
}

// kubelet is the node's kubelet process, joined to the API server with its
// own client certificate (CN system:node:<name>, so the Node authorizer
// and NodeRestriction hold it to its node).
func (n *node) kubelet() *proc {
	return &proc{name: n.name() + "/kubelet", netns: nodeNetns(n.index), cgroup: n.name() + "/kubelet",
		argv: []string{filepath.Join(n.kubeBin, "kubelet"), "--config=" + filepath.Join(n.dir, "kubelet.yaml"),
			"--kubeconfig=" + filepath.Join(n.dir, "kubelet.kubeconfig"), "--root-dir=" + filepath.Join(n.dir, "kubelet"),
			"--cert-dir=" + filepath.Join(n.dir, "kubelet", "pki"), "--hostname-override=" + n.name(), "--node-ip=" + nodeIP(n.index),
			"--node-labels=kubemesos.io/local-cluster=true", "--v=1"},
		log: filepath.Join(n.dir, "kubelet.log")}
}

// importImages imports image archives into the node's containerd, in the
// namespace the CRI plugin uses.
func (n *node) importImages(archives []string) error {
	for _, a := range archives {
		if err := runCmd("ctr", "--address", n.socket(), "--namespace", "k8s.io", "images", "import", "--no-unpack=false", a); err != nil {
			return fmt.Errorf("%s: importing %s: %w", n.name(), filepath.Base(a), err)
		}
	}
	return nil
}

// cri connects to the node's CRI runtime service.
func (n *node) cri() (runtimeapi.RuntimeServiceClient, func(), error) {
	conn, err := grpc.NewClient("unix://"+n.socket(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, err
	}
	return runtimeapi.NewRuntimeServiceClient(conn), func() { conn.Close() }, nil
}

// removePods stops and removes every pod sandbox of the node through the
// CRI, so that containerd tears down their networks (CNI DEL) and network
// namespaces before it stops.
func (n *node) removePods(ctx context.Context) error {
	if !fileExists(n.socket()) {
		return nil
	}
	rs, closeConn, err := n.cri()
	if err != nil {
		return err
	}
	defer closeConn()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	list, err := rs.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("%s: listing pod sandboxes: %w", n.name(), err)
	}
	var errs []error
	for _, sb := range list.Items {
		if _, err := rs.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, err)
		}
		if _, err := rs.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
