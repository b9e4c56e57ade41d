package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// The cluster's network lives entirely in network namespaces that `up`
// creates and `down` deletes; the machine's own namespace gets no address,
// route or device. kubemesos-cp holds the control plane and a bridge; each
// node is a namespace with one veth on that bridge, a CNI bridge for its
// pods and routes to the other nodes' pod ranges. The machine reaches the
// API server only through the loopback proxy (proxy.go).
const (
	netnsPrefix   = "kubemesos-"
	cpNetns       = netnsPrefix + "cp"
	clusterBridge = "kmbr0"
	// controlPlaneIP is the API server's address on the cluster bridge.
	controlPlaneIP = "10.87.0.1"
	nodeSubnetBits = 24
	// serviceCIDR's first address is the kubernetes Service's ClusterIP;
	// each node DNATs it to the API server (there is no kube-proxy).
	serviceCIDR     = "10.96.0.0/16"
	kubernetesSvcIP = "10.96.0.1"
	apiServerPort   = 6443
)

// nodeNetns is the network namespace of node i (1-based).
func nodeNetns(i int) string { return fmt.Sprintf("%snode-%d", netnsPrefix, i) }

// nodeIP is node i's address on the cluster bridge.
func nodeIP(i int) string { return fmt.Sprintf("10.87.0.%d", 10+i) }

// podCIDR is node i's pod range; its first address is the node's gateway.
func podCIDR(i int) string { return fmt.Sprintf("10.88.%d.0/24", i) }

// netnsPath is where `ip netns` keeps a named namespace.
func netnsPath(name string) string { return filepath.Join("/run/netns", name) }

// ip runs an iproute2 command and returns its error with its output.
func ip(args ...string) error { return runCmd("ip", args...) }

func runCmd(name string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// inNetns runs a command inside a named network namespace (nsenter enters
// the network namespace only: mounts stay shared with the machine, which
// the kubelet and containerd need).
func inNetns(netns, name string, args ...string) error {
	return runCmd("nsenter", append([]string{"--net=" + netnsPath(netns), "--", name}, args...)...)
}

// setupNetwork creates the namespaces, the bridge, a veth per node, the
// routes between the nodes' pod ranges, and the kubernetes Service DNAT.
func setupNetwork(nodes int) error {
	if err := ip("netns", "add", cpNetns); err != nil {
		return err
	}
	steps := [][]string{
		{"-n", cpNetns, "link", "set", "lo", "up"},
		{"-n", cpNetns, "link", "add", clusterBridge, "type", "bridge"},
		{"-n", cpNetns, "addr", "add", fmt.Sprintf("%s/%d", controlPlaneIP, nodeSubnetBits), "dev", clusterBridge},
		{"-n", cpNetns, "link", "set", clusterBridge, "up"},
	}
	for i := 1; i <= nodes; i++ {
		ns, host := nodeNetns(i), fmt.Sprintf("veth-node-%d", i)
		if err := ip("netns", "add", ns); err != nil {
			return err
		}
		steps = append(steps,
			[]string{"-n", ns, "link", "set", "lo", "up"},
			[]string{"-n", cpNetns, "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns},
			[]string{"-n", cpNetns, "link", "set", host, "master", clusterBridge, "up"},
			[]string{"-n", ns, "addr", "add", fmt.Sprintf("%s/%d", nodeIP(i), nodeSubnetBits), "dev", "eth0"},
			[]string{"-n", ns, "link", "set", "eth0", "up"},
			// The Service range goes to the control plane; the DNAT below
			// rewrites the one address that is used.
			[]string{"-n", ns, "route", "add", serviceCIDR, "via", controlPlaneIP},
			[]string{"-n", cpNetns, "route", "add", podCIDR(i), "via", nodeIP(i)},
		)
		for j := 1; j <= nodes; j++ {
			if j != i {
				steps = append(steps, []string{"-n", ns, "route", "add", podCIDR(j), "via", nodeIP(j)})
			}
		}
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return err
		}
	}
	for i := 1; i <= nodes; i++ {
		if err := nodeNetfilter(nodeNetns(i)); err != nil {
			return err
		}
	}
	return nil
}

// nodeNetfilter lets a node forward its pods' traffic and sends the
// kubernetes Service's ClusterIP to the API server, for pods (PREROUTING)
// and for host-network pods such as the agent (OUTPUT).
func nodeNetfilter(ns string) error {
	for _, kv := range [][2]string{{"net/ipv4/ip_forward", "1"}, {"net/ipv4/conf/all/rp_filter", "0"}, {"net/ipv4/conf/default/rp_filter", "0"}} {
		if err := inNetns(ns, "sh", "-c", fmt.Sprintf("echo %s > /proc/sys/%s", kv[1], kv[0])); err != nil {
			return err
		}
	}
	to := fmt.Sprintf("%s:%d", controlPlaneIP, apiServerPort)
	for _, chain := range []string{"PREROUTING", "OUTPUT"} {
		if err := inNetns(ns, "iptables", "-w", "-t", "nat", "-A", chain, "-d", kubernetesSvcIP+"/32", "-p", "tcp", "--dport", "443",
			"-j", "DNAT", "--to-destination", to); err != nil {
			return err
		}
	}
	return nil
}

// ourNetns lists the named network namespaces that a local cluster made:
// its own and the pod sandboxes' (containerd names those cni-*, and the
// local cluster is the only user of containerd on this machine).
func ourNetns() []string {
	entries, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), netnsPrefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// deleteNetwork deletes the cluster's namespaces; their devices go with them.
func deleteNetwork() error {
	var errs []error
	for _, ns := range ourNetns() {
		if err := ip("netns", "delete", ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// dialInNetns opens a TCP connection from inside a network namespace: the
// socket is created on a thread that has entered the namespace, and keeps
// it after the thread leaves.
func dialInNetns(ctx context.Context, netns, address string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is not unlocked if it cannot return to its own
		// namespace: the runtime then ends it rather than reuse it.
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer self.Close()
		target, err := os.Open(netnsPath(netns))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("the network namespace %s: %w", netns, err)}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("entering %s: %w", netns, err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", address)
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}
