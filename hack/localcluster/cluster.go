package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// cluster is a running local cluster.
type cluster struct {
	o       options
	pki     *pki
	proxy   *loopbackProxy
	cancel  context.CancelFunc
	cp      []*proc
	nodes   []*node
	runtime []*proc // containerd of each node
	kubelet []*proc
}

// start brings up the network, the control plane and the nodes, and waits
// until every node is Ready and the default ServiceAccount exists.
func (c *cluster) start(ctx context.Context) error {
	o := c.o
	fmt.Println("localcluster: network namespaces, certificates and images")
	if err := setupNetwork(o.nodes); err != nil {
		return err
	}
	var err error
	if c.pki, err = newPKI(filepath.Join(o.dir, "pki")); err != nil {
		return err
	}
	cpl := &controlPlane{dir: o.dir, kubeBin: o.kubeBin, pki: c.pki}
	for i := 1; i <= o.nodes; i++ {
		n := newNode(o.dir, o.kubeBin, i)
		if err := n.prepare(c.pki.path("ca.crt")); err != nil {
			return fmt.Errorf("%s: %w", n.name(), err)
		}
		c.nodes = append(c.nodes, n)
	}
	if err := cpl.certificates(o.nodes); err != nil {
		return err
	}
	if err := cpl.writeAuditPolicy(); err != nil {
		return err
	}
	// The images build while the control plane starts.
	type built struct {
		archives []string
		err      error
	}
	images := make(chan built, 1)
	go func() {
		a, err := buildImages(o.repo, o.bin, filepath.Join(o.dir, "images"))
		images <- built{a, err}
	}()

	if c.proxy, err = newLoopbackProxy(cpNetns, fmt.Sprintf("%s:%d", controlPlaneIP, apiServerPort)); err != nil {
		return err
	}
	pctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.proxy.serve(pctx)
	if err := c.pki.kubeconfig(filepath.Join(o.dir, "admin.kubeconfig"), "https://"+c.proxy.addr(), "admin"); err != nil {
		return err
	}

	fmt.Println("localcluster: control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)")
	c.cp = cpl.procs()
	etcd, apiserver := c.cp[0], c.cp[1]
	if err := etcd.start(); err != nil {
		return err
	}
	etcdClient := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
		return dialInNetns(ctx, cpNetns, addr)
	}}}
	if err := waitFor(ctx, "etcd", time.Minute, []*proc{etcd}, func() bool { return httpOK(etcdClient, "http://127.0.0.1:2379/health") }); err != nil {
		return err
	}
	if err := apiserver.start(); err != nil {
		return err
	}
	cs, err := c.clientset()
	if err != nil {
		return err
	}
	if err := waitFor(ctx, "kube-apiserver", 3*time.Minute, []*proc{etcd, apiserver}, func() bool {
		raw, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(raw) == "ok"
	}); err != nil {
		return err
	}
	for _, p := range c.cp[2:] {
		if err := p.start(); err != nil {
			return err
		}
	}

	fmt.Printf("localcluster: %d nodes (containerd, kubelet)\n", o.nodes)
	for _, n := range c.nodes {
		p := n.containerd()
		if err := p.start(); err != nil {
			return err
		}
		c.runtime = append(c.runtime, p)
	}
	b := <-images
	if b.err != nil {
		return b.err
	}
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := waitFor(ctx, n.name()+"'s containerd", time.Minute, []*proc{c.runtime[i]}, func() bool { return fileExists(n.socket()) }); err != nil {
				errs[i] = err
				return
			}
			errs[i] = n.importImages(b.archives)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	for _, n := range c.nodes {
		p := n.kubelet()
		if err := p.start(); err != nil {
			return err
		}
		c.kubelet = append(c.kubelet, p)
	}
	watch := append(append(append([]*proc{}, c.cp...), c.runtime...), c.kubelet...)
	return waitFor(ctx, "every node Ready and the default ServiceAccount", 3*time.Minute, watch, func() bool {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil || len(nodes.Items) != o.nodes {
			return false
		}
		for _, n := range nodes.Items {
			if !nodeReady(&n) {
				return false
			}
		}
		_, err = cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	})
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func httpOK(c *http.Client, url string) bool {
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// clientset is an admin client through the loopback proxy.
func (c *cluster) clientset() (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(c.o.dir, "admin.kubeconfig"))
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// writeKubeconfig publishes the admin kubeconfig; its appearance tells
// `make cluster-up` that the cluster is ready.
func (c *cluster) writeKubeconfig(path string) error {
	raw, err := os.ReadFile(filepath.Join(c.o.dir, "admin.kubeconfig"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(path+".tmp", raw, 0o600); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// supervise reports processes that end, until ctx ends. kube-scheduler
// and kube-controller-manager are started again within a second after
// they end: they exit by design when they find their view of the cluster
// broken (kube-scheduler did when its cache disagreed with a pod's binding
// after an API server restart, and new pods then waited for ever), and a
// real cluster's kubelet or service manager restarts them. Any other component that fails stays
// down, as a crashed process on a real machine would, and its log says
// why. Each value on restart restarts the API server (SIGHUP to `up`, sent
// by `localcluster restart-apiserver`): the fault campaign's API server
// restart under load.
func (c *cluster) supervise(ctx context.Context, restart <-chan os.Signal) {
	reported := map[*proc]bool{}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		all := append(append(append([]*proc{}, c.cp...), c.runtime...), c.kubelet...)
		select {
		case <-ctx.Done():
			return
		case <-restart:
			if err := c.restartAPIServer(); err != nil {
				fmt.Fprintln(os.Stderr, "localcluster: restarting kube-apiserver:", err)
			}
		case <-t.C:
			for _, p := range all {
				if p.exited() && !reported[p] {
					reported[p] = true
					fmt.Fprintf(os.Stderr, "localcluster: %s exited (%v); see %s\n", p.name, p.err, p.log)
				}
			}
			for i, p := range c.cp {
				if p.exited() && restartedOnExit[p.name] {
					next := p.again()
					if err := next.start(); err != nil {
						fmt.Fprintf(os.Stderr, "localcluster: starting %s again: %v\n", p.name, err)
						continue
					}
					c.cp[i] = next
					fmt.Printf("localcluster: %s started again\n", p.name)
				}
			}
		}
	}
}

// restartedOnExit are the control plane's components that a real cluster
// restarts when they exit, and that supervise starts again.
var restartedOnExit = map[string]bool{"kube-scheduler": true, "kube-controller-manager": true}

// restartAPIServer stops kube-apiserver (SIGTERM, then SIGKILL after 10
// s) and starts it again with the same flags, and so the same etcd data,
// certificates and audit log.
func (c *cluster) restartAPIServer() error {
	for i, p := range c.cp {
		if p.name != "kube-apiserver" {
			continue
		}
		p.stop(10 * time.Second)
		next := p.again()
		if err := next.start(); err != nil {
			return err
		}
		c.cp[i] = next
		fmt.Println("localcluster: kube-apiserver restarted")
		return nil
	}
	return fmt.Errorf("no kube-apiserver in the control plane")
}

// shutdown stops the nodes (pods first, through the CRI, so that their
// networks are torn down), then the control plane, then sweeps.
func (c *cluster) shutdown() {
	for _, p := range c.kubelet {
		p.stop(10 * time.Second)
	}
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.removePods(context.Background()); err != nil {
				fmt.Fprintln(os.Stderr, "localcluster:", err)
			}
		}()
	}
	wg.Wait()
	for _, p := range c.runtime {
		p.stop(10 * time.Second)
	}
	for i := len(c.cp) - 1; i >= 0; i-- {
		c.cp[i].stop(10 * time.Second)
	}
	if c.cancel != nil {
		c.cancel()
	}
	if err := sweep(c.o.dir); err != nil {
		fmt.Fprintln(os.Stderr, "localcluster: cleaning up:", err)
	}
}
