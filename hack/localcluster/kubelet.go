package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// kubelet is a node of the local cluster whose pods run as host processes:
// a real Node object with Lease heartbeats, pod phases and container states
// with exit codes, the downward API, a kubeconfig with a bound token of the
// pod's ServiceAccount (so RBAC applies for real), logs for kubectl logs,
// and graceful deletion (SIGTERM, grace period, SIGKILL).
type kubelet struct {
	name, ip string
	cpu, mem string
	dir      string
	images   map[string]string // image repository → directory of binaries
	cs       kubernetes.Interface
	apiHost  string // https://host:port of the API server
	caData   []byte
	logPort  int

	mu   sync.Mutex
	pods map[string]*podProc // by pod UID
}

type podProc struct {
	pod      *corev1.Pod
	cmd      *exec.Cmd
	done     chan struct{}
	stopping bool
	restarts int32
}

func (k *kubelet) run(ctx context.Context) error {
	if err := k.register(ctx); err != nil {
		return err
	}
	go k.heartbeat(ctx)
	go k.serveLogs(ctx)
	factory := informers.NewSharedInformerFactoryWithOptions(k.cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", k.name).String()
	}))
	inf := factory.Core().V1().Pods().Informer()
	_, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { k.sync(ctx, o.(*corev1.Pod)) },
		UpdateFunc: func(_, o any) { k.sync(ctx, o.(*corev1.Pod)) },
		DeleteFunc: func(o any) {
			if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
				o = d.Obj
			}
			if p, ok := o.(*corev1.Pod); ok {
				k.kill(p.UID, 0)
			}
		},
	})
	if err != nil {
		return err
	}
	factory.Start(ctx.Done())
	<-ctx.Done()
	k.mu.Lock()
	uids := make([]string, 0, len(k.pods))
	for uid := range k.pods {
		uids = append(uids, uid)
	}
	k.mu.Unlock()
	for _, uid := range uids {
		k.kill(types.UID(uid), 2)
	}
	return nil
}

// register creates the Node with its capacity, address and Ready condition.
func (k *kubelet) register(ctx context.Context) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: k.name, Labels: map[string]string{
		"kubernetes.io/hostname": k.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "kubemesos.io/local-cluster": "true"}}}
	if _, err := k.cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating node %s: %w", k.name, err)
	}
	return k.updateNodeStatus(ctx)
}

func (k *kubelet) updateNodeStatus(ctx context.Context) error {
	node, err := k.cs.CoreV1().Nodes().Get(ctx, k.name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(k.cpu), corev1.ResourceMemory: resource.MustParse(k.mem),
		corev1.ResourcePods: resource.MustParse("110")}
	now := metav1.Now()
	node.Status.Capacity, node.Status.Allocatable = capacity, capacity
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: k.ip}, {Type: corev1.NodeHostName, Address: k.name}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(k.logPort)
	node.Status.NodeInfo = corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OperatingSystem: "linux", Architecture: "amd64", ContainerRuntimeVersion: "localcluster://host-processes"}
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		Message: "local cluster node: pods run as host processes", LastHeartbeatTime: now, LastTransitionTime: now}}
	_, err = k.cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}

// heartbeat renews the node's Lease in kube-node-lease.
func (k *kubelet) heartbeat(ctx context.Context) {
	for ctx.Err() == nil {
		now := metav1.NewMicroTime(time.Now())
		leases := k.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease)
		l, err := leases.Get(ctx, k.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, _ = leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: k.name, Namespace: corev1.NamespaceNodeLease},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(k.name), LeaseDurationSeconds: ptr.To(int32(40)), RenewTime: &now}}, metav1.CreateOptions{})
		} else if err == nil {
			l.Spec.RenewTime = &now
			_, _ = leases.Update(ctx, l, metav1.UpdateOptions{})
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			_ = k.updateNodeStatus(ctx)
		}
	}
}

// sync starts a new pod's container, or stops a pod being deleted.
func (k *kubelet) sync(ctx context.Context, pod *corev1.Pod) {
	k.mu.Lock()
	pp := k.pods[string(pod.UID)]
	k.mu.Unlock()
	if pod.DeletionTimestamp != nil {
		grace := int64(30)
		if pod.DeletionGracePeriodSeconds != nil {
			grace = *pod.DeletionGracePeriodSeconds
		}
		go func() {
			k.kill(pod.UID, grace)
			_ = k.cs.CoreV1().Pods(pod.Namespace).Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0),
				Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		}()
		return
	}
	if pp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return
	}
	pp = &podProc{pod: pod.DeepCopy(), done: make(chan struct{})}
	k.mu.Lock()
	k.pods[string(pod.UID)] = pp
	k.mu.Unlock()
	go k.runPod(ctx, pp)
}

// runPod runs the pod's first container as a process, restarting it as the
// pod's restartPolicy says, and reports the pod's status.
func (k *kubelet) runPod(ctx context.Context, pp *podProc) {
	defer close(pp.done)
	pod := pp.pod
	for {
		exit, msg := k.runContainer(ctx, pp)
		k.mu.Lock()
		stopping := pp.stopping
		k.mu.Unlock()
		if stopping || ctx.Err() != nil {
			return
		}
		restart := pod.Spec.RestartPolicy == corev1.RestartPolicyAlways || pod.Spec.RestartPolicy == "" ||
			(pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure && exit != 0)
		if !restart {
			phase := corev1.PodSucceeded
			if exit != 0 {
				phase = corev1.PodFailed
			}
			k.setStatus(pod, phase, &corev1.ContainerStateTerminated{ExitCode: int32(exit), Reason: map[bool]string{true: "Completed", false: "Error"}[exit == 0],
				Message: msg, FinishedAt: metav1.Now()}, pp.restarts)
			return
		}
		pp.restarts++
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(min(pp.restarts, 5)) * time.Second):
		}
	}
}

// runContainer starts the container's command and waits for it.
func (k *kubelet) runContainer(ctx context.Context, pp *podProc) (int, string) {
	pod := pp.pod
	c := pod.Spec.Containers[0]
	argv, err := k.commandOf(pod, &c)
	if err != nil {
		k.setStatus(pod, corev1.PodFailed, &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: err.Error()}, 0)
		k.mu.Lock()
		pp.stopping = true
		k.mu.Unlock()
		return 128, err.Error()
	}
	podDir := filepath.Join(k.dir, "pods", pod.Namespace+"_"+pod.Name+"_"+string(pod.UID))
	_ = os.MkdirAll(podDir, 0o755)
	logf, err := os.OpenFile(filepath.Join(podDir, c.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 128, err.Error()
	}
	defer logf.Close()
	env, err := k.envOf(ctx, pod, &c)
	if err != nil {
		fmt.Fprintf(logf, "localcluster: %v\n", err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = env, podDir, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return 128, err.Error()
	}
	k.mu.Lock()
	pp.cmd = cmd
	k.mu.Unlock()
	k.setStatus(pod, corev1.PodRunning, nil, pp.restarts)
	err = cmd.Wait()
	if err == nil {
		return 0, ""
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), "killed by " + ws.Signal().String()
		}
		return ee.ExitCode(), ""
	}
	return 1, err.Error()
}

// commandOf maps the image to a directory of local binaries and expands
// $(VAR) references in the command and args, as the kubelet does.
func (k *kubelet) commandOf(pod *corev1.Pod, c *corev1.Container) ([]string, error) {
	repo, _, _ := strings.Cut(c.Image, ":")
	dir, ok := k.images[repo]
	if !ok {
		return nil, fmt.Errorf("image %s is not in the local cluster's image map (%s)", c.Image, strings.Join(keys(k.images), ", "))
	}
	argv := append(append([]string{}, c.Command...), c.Args...)
	if len(c.Command) == 0 {
		argv = append([]string{filepath.Base(repo)}, c.Args...)
	}
	vars := map[string]string{}
	for _, e := range k.resolveEnv(pod, c) {
		name, val, _ := strings.Cut(e, "=")
		vars[name] = val
	}
	for i := range argv {
		argv[i] = expand(argv[i], vars)
	}
	exe := filepath.Join(dir, filepath.Base(argv[0]))
	if _, err := os.Stat(exe); err != nil {
		return nil, fmt.Errorf("image %s has no binary %s (looked in %s)", c.Image, argv[0], dir)
	}
	argv[0] = exe
	return argv, nil
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// expand replaces $(NAME) with vars[NAME]; unknown references stay.
func expand(s string, vars map[string]string) string {
	for {
		i := strings.Index(s, "$(")
		if i < 0 {
			return s
		}
		j := strings.Index(s[i:], ")")
		if j < 0 {
			return s
		}
		name := s[i+2 : i+j]
		v, ok := vars[name]
		if !ok {
			return s
		}
		s = s[:i] + v + s[i+j+1:]
	}
}

// resolveEnv resolves the container's env, with the downward API fields.
func (k *kubelet) resolveEnv(pod *corev1.Pod, c *corev1.Container) []string {
	var out []string
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			switch e.ValueFrom.FieldRef.FieldPath {
			case "metadata.name":
				v = pod.Name
			case "metadata.namespace":
				v = pod.Namespace
			case "metadata.uid":
				v = string(pod.UID)
			case "spec.nodeName":
				v = pod.Spec.NodeName
			case "spec.serviceAccountName":
				v = serviceAccount(pod)
			case "status.hostIP", "status.podIP":
				v = k.ip
			}
		}
		out = append(out, e.Name+"="+v)
	}
	return out
}

func serviceAccount(pod *corev1.Pod) string {
	if pod.Spec.ServiceAccountName != "" {
		return pod.Spec.ServiceAccountName
	}
	return "default"
}

// envOf is the process environment: PATH, the container's env, and unless
// the pod opts out, KUBECONFIG with a bound token of its ServiceAccount.
func (k *kubelet) envOf(ctx context.Context, pod *corev1.Pod, c *corev1.Container) ([]string, error) {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(k.dir, "pods"), "HOSTNAME=" + pod.Name}
	env = append(env, k.resolveEnv(pod, c)...)
	if pod.Spec.AutomountServiceAccountToken != nil && !*pod.Spec.AutomountServiceAccountToken {
		return env, nil
	}
	tr, err := k.cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, serviceAccount(pod), &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(24 * 3600)),
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}},
	}, metav1.CreateOptions{})
	if err != nil {
		return env, fmt.Errorf("requesting a token for %s/%s: %w", pod.Namespace, serviceAccount(pod), err)
	}
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: %q, certificate-authority-data: %q}}]
users: [{name: sa, user: {token: %q}}]
contexts: [{name: local, context: {cluster: local, user: sa, namespace: %q}}]
current-context: local
`, k.apiHost, b64(k.caData), tr.Status.Token, pod.Namespace)
	path := filepath.Join(k.dir, "pods", pod.Namespace+"_"+pod.Name+"_"+string(pod.UID), "kubeconfig")
	_ = os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		return env, err
	}
	return append(env, "KUBECONFIG="+path), nil
}

// setStatus reports the pod's phase and its container's state.
func (k *kubelet) setStatus(pod *corev1.Pod, phase corev1.PodPhase, term *corev1.ContainerStateTerminated, restarts int32) {
	ctx := context.Background()
	for attempt := 0; attempt < 5; attempt++ {
		cur, err := k.cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil || cur.UID != pod.UID {
			return
		}
		now := metav1.Now()
		cs := corev1.ContainerStatus{Name: pod.Spec.Containers[0].Name, Image: pod.Spec.Containers[0].Image, RestartCount: restarts}
		ready := corev1.ConditionFalse
		if term != nil {
			cs.State.Terminated = term
		} else {
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: now}
			cs.Ready, cs.Started = true, ptr.To(true)
			ready = corev1.ConditionTrue
		}
		cur.Status.Phase, cur.Status.HostIP, cur.Status.PodIP = phase, k.ip, k.ip
		cur.Status.PodIPs = []corev1.PodIP{{IP: k.ip}}
		if cur.Status.StartTime == nil {
			cur.Status.StartTime = &now
		}
		cur.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
		cur.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: ready, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: ready, LastTransitionTime: now},
		}
		if _, err := k.cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err == nil || !apierrors.IsConflict(err) {
			return
		}
	}
}

// kill stops a pod's process: SIGTERM to its process group, then SIGKILL
// after grace seconds.
func (k *kubelet) kill(uid types.UID, grace int64) {
	k.mu.Lock()
	pp := k.pods[string(uid)]
	if pp != nil {
		pp.stopping = true
	}
	k.mu.Unlock()
	if pp == nil {
		return
	}
	k.mu.Lock()
	cmd := pp.cmd
	k.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-pp.done:
		case <-time.After(time.Duration(grace) * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-pp.done
		}
	}
	k.mu.Lock()
	delete(k.pods, string(uid))
	k.mu.Unlock()
}

// serveLogs serves GET /containerLogs/<ns>/<pod>/<container> over TLS on
// the node's address, which the API server calls for `kubectl logs`.
func (k *kubelet) serveLogs(ctx context.Context) {
	mux := http.NewServeMux()
	mux.HandleFunc("/containerLogs/", func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/containerLogs/"), "/")
		if len(parts) != 3 {
			http.Error(w, "want /containerLogs/<namespace>/<pod>/<container>", http.StatusBadRequest)
			return
		}
		matches, _ := filepath.Glob(filepath.Join(k.dir, "pods", parts[0]+"_"+parts[1]+"_*", parts[2]+".log"))
		if len(matches) == 0 {
			http.Error(w, "no logs for "+strings.Join(parts, "/"), http.StatusNotFound)
			return
		}
		http.ServeFile(w, r, matches[len(matches)-1])
	})
	cert, err := selfSigned(k.ip)
	if err != nil {
		return
	}
	srv := &http.Server{Addr: net.JoinHostPort(k.ip, strconv.Itoa(k.logPort)), Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	_ = srv.ListenAndServeTLS("", "")
}

func selfSigned(ip string) (tls.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: ip}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(365 * 24 * time.Hour), IPAddresses: []net.IP{net.ParseIP(ip)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
