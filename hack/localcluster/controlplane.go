package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// controlPlane lays out and starts etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler in the control-plane network
// namespace, configured as on a real cluster: TLS everywhere but etcd's
// loopback, the Node and RBAC authorizers, NodeRestriction and Pod Security
// admission, ServiceAccount token signing, and an audit log of the
// kubemesos master's writes (audit.go).
type controlPlane struct {
	dir     string // the cluster directory
	kubeBin string // etcd and the Kubernetes binaries
	pki     *pki
}

// certificates issues every certificate the control plane and the nodes
// use, and writes each component's kubeconfig.
func (cp *controlPlane) certificates(nodes int) error {
	p := cp.pki
	ips := []net.IP{net.ParseIP(controlPlaneIP), net.ParseIP(kubernetesSvcIP), net.ParseIP("127.0.0.1")}
	dns := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if err := p.issue("apiserver", nil, dns, ips); err != nil {
		return err
	}
	clients := map[string]identity{
		"admin":                    {user: "kubemesos-admin", groups: []string{"system:masters"}},
		"controller-manager":       {user: "system:kube-controller-manager"},
		"scheduler":                {user: "system:kube-scheduler"},
		"apiserver-kubelet-client": {user: "kube-apiserver-kubelet-client", groups: []string{"system:masters"}},
	}
	for i := 1; i <= nodes; i++ {
		clients[nodeName(i)] = identity{user: "system:node:" + nodeName(i), groups: []string{"system:nodes"}}
	}
	for name, id := range clients {
		if err := p.issue(name, &id, nil, nil); err != nil {
			return err
		}
	}
	if err := p.serviceAccountKeys(); err != nil {
		return err
	}
	inside := fmt.Sprintf("https://%s:%d", controlPlaneIP, apiServerPort)
	for _, name := range []string{"controller-manager", "scheduler"} {
		if err := p.kubeconfig(filepath.Join(cp.dir, name+".kubeconfig"), inside, name); err != nil {
			return err
		}
	}
	for i := 1; i <= nodes; i++ {
		if err := p.kubeconfig(filepath.Join(cp.dir, "nodes", nodeName(i), "kubelet.kubeconfig"), inside, nodeName(i)); err != nil {
			return err
		}
	}
	return nil
}

// procs returns the control plane's processes in start order.
func (cp *controlPlane) procs() []*proc {
	p, bin := cp.pki, func(n string) string { return filepath.Join(cp.kubeBin, n) }
	mk := func(name string, argv ...string) *proc {
		return &proc{name: name, netns: cpNetns, cgroup: "control-plane", argv: append([]string{bin(name)}, argv...),
			log: filepath.Join(cp.dir, name+".log")}
	}
	return []*proc{
		mk("etcd", "--data-dir="+filepath.Join(cp.dir, "etcd"), "--listen-client-urls=http://127.0.0.1:2379",
			"--advertise-client-urls=http://127.0.0.1:2379", "--listen-peer-urls=http://127.0.0.1:2380",
			"--listen-metrics-urls=http://127.0.0.1:2381",
			// The local cluster's data is thrown away with it.
			"--unsafe-no-fsync"),
		mk("kube-apiserver", "--etcd-servers=http://127.0.0.1:2379", "--bind-address=0.0.0.0",
			"--secure-port="+strconv.Itoa(apiServerPort), "--advertise-address="+controlPlaneIP,
			"--tls-cert-file="+p.path("apiserver.crt"), "--tls-private-key-file="+p.path("apiserver.key"),
			"--client-ca-file="+p.path("ca.crt"),
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file="+p.path("sa.pub"), "--service-account-signing-key-file="+p.path("sa.key"),
			"--service-cluster-ip-range="+serviceCIDR,
			"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
			"--kubelet-client-certificate="+p.path("apiserver-kubelet-client.crt"),
			"--kubelet-client-key="+p.path("apiserver-kubelet-client.key"),
			"--kubelet-preferred-address-types=InternalIP", "--allow-privileged=true", "--profiling=false",
			// What the kubemesos master writes, one JSON line per request.
			// The log rotates at 100 MiB (about 1h30m of the fault
			// campaign) into audit-<time>.log beside it; the readers read
			// the backups too, and the oldest go past auditLogBackups.
			"--audit-policy-file="+auditPolicyFile(cp.dir), "--audit-log-path="+auditLogFile(cp.dir),
			"--audit-log-format=json", "--audit-log-mode=blocking", "--audit-log-maxsize=100",
			fmt.Sprintf("--audit-log-maxbackup=%d", auditLogBackups)),
		mk("kube-controller-manager", "--kubeconfig="+filepath.Join(cp.dir, "controller-manager.kubeconfig"),
			"--leader-elect=false", "--secure-port=0", "--use-service-account-credentials=true",
			"--service-account-private-key-file="+p.path("sa.key"), "--root-ca-file="+p.path("ca.crt"),
			"--cluster-signing-cert-file="+p.path("ca.crt"), "--cluster-signing-key-file="+p.path("ca.key"),
			"--controllers=*,-nodeipam"),
		mk("kube-scheduler", "--kubeconfig="+filepath.Join(cp.dir, "scheduler.kubeconfig"), "--leader-elect=false", "--secure-port=0"),
	}
}

// waitFor polls cond every 200 ms until it holds, ctx ends, or a process
// of watch exits.
func waitFor(ctx context.Context, what string, timeout time.Duration, watch []*proc, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for !cond() {
		for _, p := range watch {
			if p.exited() {
				return fmt.Errorf("%s exited while waiting for %s (%v); its log: %s", p.name, what, p.err, p.log)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
