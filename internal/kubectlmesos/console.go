package kubectlmesos

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

const (
	// ConsoleService is the chart's ClusterIP Service in front of the
	// console of every master replica.
	ConsoleService = "kubemesos-console"
	// ConsolePortName is the name of the console's port in that Service.
	ConsolePortName = "console"
	// DefaultConsolePort is the local port that `kubectl mesos console`
	// serves on by default, the console's own port.
	DefaultConsolePort = 5080
	// MinTokenDuration is the shortest lifetime the API server grants a
	// requested service account token.
	MinTokenDuration = 10 * time.Minute
)

// consoleFlags are the flags of `kubectl mesos console`.
type consoleFlags struct {
	address           string
	port              int
	acceptNonLoopback bool
	token             string
	serviceAccount    string
	tokenDuration     time.Duration
}

func (p *plugin) consoleCommand() *cobra.Command {
	f := consoleFlags{}
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Open the master's web console on this machine, with a token",
		Long: `console serves the master's read-only web console on this machine: it
port-forwards to a ready master pod behind the Service ` + ConsoleService + ` (in
--master-namespace), as kubectl port-forward does, and serves a local proxy
that adds a Kubernetes bearer token to every request. The console checks the
token (TokenReview) and shows what its identity may read (SubjectAccessReview
per namespace). Open the address it prints; it runs until Ctrl-C and fails
when the connection to the master is lost.

The token is the first of:
  --token TOKEN                     as given;
  --service-account NAMESPACE/NAME  one requested for that service account
                                    (a TokenRequest: you need create on
                                    serviceaccounts/token), valid for
                                    --token-duration and renewed before it
                                    expires;
  your kubeconfig's bearer token    a token, a token file or an exec plugin.
A kubeconfig that authenticates with a client certificate (as the local demo
cluster's does) carries no token the console can check: pass --service-account
or --token.

Security: whoever reaches the local address reads the console as the token's
identity. It listens on 127.0.0.1, refuses an --address that is not loopback
unless --accept-non-loopback is given, and answers only requests addressed to
localhost or a loopback address (so that a web page cannot reach it through
a host name of its own that resolves to this machine).`,
		Example: `  kubectl mesos console --service-account team/viewer
  kubectl mesos console --token "$(kubectl create token viewer -n team)"
  kubectl mesos console --port 0          # any free local port`,
		Args:              cobra.NoArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return p.runConsole(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.address, "address", "127.0.0.1", "the local address to serve the console on; a loopback address unless --accept-non-loopback")
	fl.IntVar(&f.port, "port", DefaultConsolePort, "the local port to serve the console on; 0 for any free port")
	fl.BoolVar(&f.acceptNonLoopback, "accept-non-loopback", false, "serve on an --address that is not loopback: whoever reaches it reads the console as the token's identity")
	fl.StringVar(&f.token, "token", "", "the bearer token to view the console with")
	fl.StringVar(&f.serviceAccount, "service-account", "", "NAMESPACE/NAME of a service account to request a token for (a TokenRequest)")
	fl.DurationVar(&f.tokenDuration, "token-duration", time.Hour, "how long a requested service account token is valid (at least 10m); it is renewed before it expires")
	fl.StringVar(&p.masterNamespace, "master-namespace", DefaultMasterNamespace, "the namespace of the kubemesos master, where the Service "+ConsoleService+" is")
	cmd.MarkFlagsMutuallyExclusive("token", "service-account")
	return cmd
}

// runConsole serves the console until ctx ends or the forward to the
// master is lost.
func (p *plugin) runConsole(ctx context.Context, out, errOut io.Writer, f consoleFlags) error {
	if err := checkLoopback(f.address, f.acceptNonLoopback); err != nil {
		return err
	}
	if f.port < 0 || f.port > 65535 {
		return fmt.Errorf("--port %d is not a port (0 to 65535; 0 for any free port)", f.port)
	}
	if f.tokenDuration < MinTokenDuration {
		return fmt.Errorf("--token-duration %s is shorter than %s, the least the API server grants", f.tokenDuration, MinTokenDuration)
	}
	cfg, err := p.restConfig()
	if err != nil {
		return err
	}
	_, cs, err := p.clients()
	if err != nil {
		return err
	}
	tokens, from, err := consoleToken(cs, cfg, f, p.opts.Now)
	if err != nil {
		return err
	}
	// The first token now, so that a missing service account or a
	// client-certificate kubeconfig fails before anything listens.
	token, err := tokens(ctx)
	if err != nil {
		return err
	}
	user, err := whoAmI(ctx, cfg, token, from)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(f.address, strconv.Itoa(f.port)))
	if err != nil {
		return fmt.Errorf("listening on %s port %d (pass --port 0 for any free port, or another --port): %w", f.address, f.port, err)
	}
	defer func() { _ = ln.Close() }()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fwd, pod, port, err := p.forwardConsole(ctx, cfg, cs, errOut)
	if err != nil {
		return err
	}
	target := &url.URL{Scheme: "http", Host: fwd.Local}
	servedHost := ""
	if f.acceptNonLoopback {
		servedHost = f.address
	}
	srv := &http.Server{Handler: consoleProxy(target, tokens, servedHost), ReadHeaderTimeout: 30 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() { _ = srv.Close() }()

	local := localURL(ln.Addr().(*net.TCPAddr), f.address)
	lost := func(err error) error {
		if last := fwd.LastError(); last != nil {
			err = fmt.Errorf("%w (last forwarding error: %v)", err, last)
		}
		return fmt.Errorf("the connection to the master (pod %s/%s) was lost; run kubectl mesos console again: %w", pod.Namespace, pod.Name, err)
	}
	if err := checkConsole(ctx, local, from); err != nil {
		select {
		case ferr := <-fwd.Done:
			if ferr != nil {
				return lost(ferr)
			}
		default:
		}
		if last := fwd.LastError(); last != nil {
			return fmt.Errorf("%w (forwarding to pod %s/%s port %d: %v)", err, pod.Namespace, pod.Name, port, last)
		}
		return err
	}
	if _, err := fmt.Fprintf(out, "Console: %s (as %s; Ctrl-C stops)\n", local, user); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-fwd.Done:
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = portforward.ErrLostConnectionToPod
		}
		return lost(err)
	case err := <-served:
		return fmt.Errorf("serving the console on %s: %w", ln.Addr(), err)
	}
}

// forwardConsole port-forwards to a ready pod behind the console Service
// in --master-namespace until ctx ends, and returns the forward, the pod
// and its console port.
func (p *plugin) forwardConsole(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, errOut io.Writer) (*PortForward, *corev1.Pod, int32, error) {
	pod, port, err := consolePod(ctx, cs, cmp.Or(p.masterNamespace, DefaultMasterNamespace))
	if err != nil {
		return nil, nil, 0, err
	}
	forward := p.opts.ForwardPort
	if forward == nil {
		forward = ForwardPort
	}
	fwd, err := forward(ctx, cfg, pod, port, errOut)
	if err != nil {
		return nil, nil, 0, err
	}
	return fwd, pod, port, nil
}

// checkLoopback refuses an address that is not loopback, unless accept.
func checkLoopback(address string, accept bool) error {
	if accept || isLoopback(address) {
		return nil
	}
	shown := address
	if shown == "" {
		shown = `"" (every address)`
	}
	return fmt.Errorf("--address %s is not a loopback address: whoever reaches it reads the console as the token's identity, because the proxy adds the token to every request; pass --accept-non-loopback to serve it there anyway", shown)
}

// isLoopback reports whether host (a name or an IP, without a port) is
// localhost or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return ip != nil && ip.IsLoopback()
}

// hostOnly is the host of a Host header (host, or host:port), without
// brackets.
func hostOnly(hostport string) string {
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		return host
	}
	return strings.Trim(hostport, "[]")
}

// loopbackHost reports whether a Host header (host, or host:port) names
// localhost or a loopback address.
func loopbackHost(hostport string) bool {
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		return isLoopback(host)
	}
	return isLoopback(hostport)
}

// localURL is the console's address for the user: the listener's port on
// the address asked for, or on 127.0.0.1 when that is every address.
func localURL(addr *net.TCPAddr, address string) string {
	host := address
	if ip := net.ParseIP(address); address == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(addr.Port)) + "/"
}

// tokenFunc returns the bearer token to send now.
type tokenFunc func(context.Context) (string, error)

// errNoToken says what to do when the kubeconfig carries no bearer token.
var errNoToken = errors.New("your kubeconfig authenticates with a client certificate, which the console cannot check: pass --service-account NAMESPACE/NAME (a service account allowed to read what you want to see, e.g. bound to the ClusterRole kubemesos-viewer) or --token")

// errImpersonation says what to do when the kubeconfig impersonates.
var errImpersonation = errors.New("the console cannot impersonate (--as, --as-group): pass --service-account NAMESPACE/NAME or --token of the identity to view it as")

// consoleToken returns where the console's token comes from, in this
// order: --token; a TokenRequest for --service-account; the kubeconfig's
// own bearer token. from says which, for messages.
func consoleToken(cs kubernetes.Interface, cfg *rest.Config, f consoleFlags, now func() time.Time) (tokenFunc, string, error) {
	switch {
	case f.token != "":
		token := strings.TrimSpace(f.token)
		return func(context.Context) (string, error) { return token, nil }, "--token", nil
	case f.serviceAccount != "":
		ns, name, err := ParseServiceAccount(f.serviceAccount)
		if err != nil {
			return nil, "", fmt.Errorf("--service-account: %w", err)
		}
		if now == nil {
			now = time.Now
		}
		s := &serviceAccountToken{cs: cs, namespace: ns, name: name, seconds: int64(f.tokenDuration / time.Second), now: now}
		return s.get, "service account " + ns + "/" + name, nil
	}
	t, err := kubeconfigToken(cfg)
	return t, "your kubeconfig", err
}

// ParseServiceAccount splits NAMESPACE/NAME.
func ParseServiceAccount(s string) (namespace, name string, err error) {
	namespace, name, ok := strings.Cut(s, "/")
	if !ok || namespace == "" || name == "" || strings.Contains(name, "/") || strings.TrimSpace(s) != s {
		return "", "", fmt.Errorf("%q is not NAMESPACE/NAME", s)
	}
	return namespace, name, nil
}

// serviceAccountToken requests tokens for a service account, and a new
// one when four fifths of the last one's life have passed.
type serviceAccountToken struct {
	cs              kubernetes.Interface
	namespace, name string
	seconds         int64
	now             func() time.Time

	mu    sync.Mutex
	token string
	renew time.Time
}

func (s *serviceAccountToken) get(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.token != "" && now.Before(s.renew) {
		return s.token, nil
	}
	tr, err := s.cs.CoreV1().ServiceAccounts(s.namespace).CreateToken(ctx, s.name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &s.seconds}}, metav1.CreateOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "", fmt.Errorf("service account %s not found in namespace %s: create it (kubectl create serviceaccount %s -n %s) and bind it to the ClusterRole kubemesos-viewer: %w",
			s.name, s.namespace, s.name, s.namespace, err)
	case apierrors.IsForbidden(err):
		return "", fmt.Errorf("you may not request tokens for service account %s/%s (create on serviceaccounts/token in namespace %s; check with kubectl auth can-i create serviceaccounts/token -n %s): %w",
			s.namespace, s.name, s.namespace, s.namespace, err)
	case err != nil:
		return "", fmt.Errorf("requesting a token for service account %s/%s: %w", s.namespace, s.name, err)
	case tr.Status.Token == "":
		return "", fmt.Errorf("requesting a token for service account %s/%s: the API server returned none", s.namespace, s.name)
	}
	life := time.Duration(s.seconds) * time.Second
	if exp := tr.Status.ExpirationTimestamp.Time; !exp.IsZero() {
		life = exp.Sub(now)
	}
	s.token, s.renew = tr.Status.Token, now.Add(life*4/5)
	return s.token, nil
}

// kubeconfigToken returns the bearer token that the kubeconfig sends: a
// token, a token file (read again as it changes) or an exec or auth
// provider plugin's; errNoToken when it sends none, errImpersonation when
// it impersonates (the console reviews the token, not the impersonation).
func kubeconfigToken(cfg *rest.Config) (tokenFunc, error) {
	if imp := cfg.Impersonate; imp.UserName != "" || imp.UID != "" || len(imp.Groups) > 0 || len(imp.Extra) > 0 {
		return nil, errImpersonation
	}
	rt, err := rest.HTTPWrappersForConfig(rest.CopyConfig(cfg), echoAuthorization{})
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig's credentials: %w", err)
	}
	return func(ctx context.Context) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://kube-apiserver.invalid/api", nil)
		if err != nil {
			return "", err
		}
		resp, err := rt.RoundTrip(req)
		if err != nil {
			return "", fmt.Errorf("getting a token from your kubeconfig: %w", err)
		}
		_ = resp.Body.Close()
		scheme, token, ok := strings.Cut(resp.Header.Get(echoHeader), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return "", errNoToken
		}
		return strings.TrimSpace(token), nil
	}, nil
}

// echoHeader carries, in echoAuthorization's answer, the Authorization
// header that the kubeconfig's wrappers set on the request.
const echoHeader = "X-Echo-Authorization"

// echoAuthorization answers every request itself, with its Authorization
// header in echoHeader: nothing leaves the machine.
type echoAuthorization struct{}

func (echoAuthorization) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{echoHeader: {req.Header.Get("Authorization")}},
		Body: http.NoBody, Request: req, ProtoMajor: 1, ProtoMinor: 1}, nil
}

// whoAmI returns the user name that the API server gives token (a
// SelfSubjectReview), or a description of from when the server cannot
// say; an error when the API server refuses the token.
func whoAmI(ctx context.Context, cfg *rest.Config, token, from string) (string, error) {
	c := rest.AnonymousClientConfig(cfg)
	c.BearerToken = token
	cs, err := kubernetes.NewForConfig(c)
	if err != nil {
		return "", fmt.Errorf("connecting to the API server %s: %w", cfg.Host, err)
	}
	r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	switch {
	case apierrors.IsUnauthorized(err):
		return "", fmt.Errorf("the API server does not accept the token from %s, so neither would the console: %w", from, err)
	case err != nil || r.Status.UserInfo.Username == "":
		return "the user of the token from " + from, nil
	}
	return r.Status.UserInfo.Username, nil
}

// consolePod returns a ready pod behind the console Service in ns, and its
// port that the Service sends the console to.
func consolePod(ctx context.Context, cs kubernetes.Interface, ns string) (*corev1.Pod, int32, error) {
	svc, err := cs.CoreV1().Services(ns).Get(ctx, ConsoleService, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, 0, fmt.Errorf("service %s not found in namespace %s: is kubemesos installed with master.console.port set? (pass --master-namespace if it is installed in another namespace)", ConsoleService, ns)
	}
	if err != nil {
		return nil, 0, hint(err, "get", "Service", ConsoleService, ns)
	}
	sp, err := consoleServicePort(svc)
	if err != nil {
		return nil, 0, err
	}
	if len(svc.Spec.Selector) == 0 {
		return nil, 0, fmt.Errorf("service %s in namespace %s has no selector, so no pod behind it to forward to", ConsoleService, ns)
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector).String()
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, 0, hint(err, "list", "Pod", "", ns)
	}
	slices.SortFunc(pods.Items, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	var portErr error
	for i := range pods.Items {
		pod := &pods.Items[i]
		if !podReady(pod) {
			continue
		}
		port, err := targetPort(sp, pod)
		if err != nil {
			portErr = err
			continue
		}
		return pod, port, nil
	}
	if portErr != nil {
		return nil, 0, portErr
	}
	return nil, 0, fmt.Errorf("no ready pod behind service %s in namespace %s (%d match its selector): is kubemesos installed with master.console.port set, and is the master running? kubectl get pods -n %s -l %s",
		ConsoleService, ns, len(pods.Items), ns, sel)
}

// consoleServicePort is the Service's port named console, or its only one.
func consoleServicePort(svc *corev1.Service) (corev1.ServicePort, error) {
	for _, p := range svc.Spec.Ports {
		if p.Name == ConsolePortName {
			return p, nil
		}
	}
	if len(svc.Spec.Ports) == 1 {
		return svc.Spec.Ports[0], nil
	}
	return corev1.ServicePort{}, fmt.Errorf("service %s in namespace %s has no port named %s", svc.Name, svc.Namespace, ConsolePortName)
}

// targetPort is the pod's port that sp sends to: a number, or the
// container port of that name.
func targetPort(sp corev1.ServicePort, pod *corev1.Pod) (int32, error) {
	switch {
	case sp.TargetPort.Type == intstr.String:
		for _, c := range pod.Spec.Containers {
			for _, p := range c.Ports {
				if p.Name == sp.TargetPort.StrVal && p.Protocol != corev1.ProtocolUDP && p.Protocol != corev1.ProtocolSCTP {
					return p.ContainerPort, nil
				}
			}
		}
		return 0, fmt.Errorf("pod %s/%s has no container port named %s, the target port of service %s", pod.Namespace, pod.Name, sp.TargetPort.StrVal, ConsoleService)
	case sp.TargetPort.IntVal != 0:
		return sp.TargetPort.IntVal, nil
	}
	return sp.Port, nil
}

// podReady reports whether pod runs, is not being deleted and is Ready.
func podReady(pod *corev1.Pod) bool {
	if pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// PortForward is a running port-forward from this machine to a pod.
type PortForward struct {
	// Local is host:port on 127.0.0.1 that reaches the pod's port.
	Local string
	// Done yields what ended the forward, nil when its context ended:
	// portforward.ErrLostConnectionToPod when the connection to the pod
	// was lost.
	Done <-chan error

	log *forwardLog
}

// LastError returns the last error met forwarding one connection, such as
// the pod refusing it, or nil.
func (f *PortForward) LastError() error {
	if f.log == nil {
		return nil
	}
	f.log.mu.Lock()
	defer f.log.mu.Unlock()
	return f.log.last
}

// ForwardPort forwards a free port of 127.0.0.1 to port of pod through
// the API server, as kubectl port-forward does (WebSockets, else SPDY),
// until ctx ends. Errors met forwarding a connection are written to
// errOut (when not nil), one a line.
func ForwardPort(ctx context.Context, cfg *rest.Config, pod *corev1.Pod, port int32, errOut io.Writer) (*PortForward, error) {
	what := fmt.Sprintf("pod %s/%s port %d", pod.Namespace, pod.Name, port)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the API server %s: %w", cfg.Host, err)
	}
	u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("port-forwarding to %s: %w", what, err)
	}
	flog := &forwardLog{out: errOut, what: what}
	logger := logr.New(flog)
	ws, err := portforward.NewSPDYOverWebsocketDialerWithLogger(logger, u, cfg)
	if err != nil {
		return nil, fmt.Errorf("port-forwarding to %s: %w", what, err)
	}
	dialer := portforward.NewFallbackDialer(ws, spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u),
		func(err error) bool { return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err) })
	ready := make(chan struct{})
	pf, err := portforward.NewOnAddressesWithContext(logr.NewContext(ctx, logger), dialer, []string{"127.0.0.1"},
		[]string{fmt.Sprintf("0:%d", port)}, ready, io.Discard, io.Discard)
	if err != nil {
		return nil, fmt.Errorf("port-forwarding to %s: %w", what, err)
	}
	done := make(chan error, 1)
	go func() {
		done <- pf.ForwardPorts()
		close(done)
	}()
	select {
	case <-ready:
	case err := <-done:
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("port-forwarding to %s (it takes create on pods/portforward in namespace %s): %w", what, pod.Namespace, err)
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) != 1 {
		pf.Close()
		return nil, fmt.Errorf("port-forwarding to %s: no local port: %v", what, err)
	}
	return &PortForward{Local: net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local))), Done: done, log: flog}, nil
}

// forwardLog is the port-forwarder's logger: it keeps the last error and
// writes each to out, one a line, and drops the rest.
type forwardLog struct {
	out  io.Writer
	what string

	mu   sync.Mutex
	last error
}

func (*forwardLog) Init(logr.RuntimeInfo)            {}
func (*forwardLog) Enabled(int) bool                 { return false }
func (*forwardLog) Info(int, string, ...any)         {}
func (l *forwardLog) WithValues(...any) logr.LogSink { return l }
func (l *forwardLog) WithName(string) logr.LogSink   { return l }

func (l *forwardLog) Error(err error, msg string, _ ...any) {
	if err == nil {
		err = errors.New(msg)
	} else {
		err = fmt.Errorf("%s: %w", msg, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = err
	if l.out != nil {
		_, _ = fmt.Fprintf(l.out, "forwarding to %s: %v\n", l.what, err)
	}
}

// HeaderProxy marks every answer of `kubectl mesos console`'s proxy, so
// that the console's pages know that the token is the proxy's: when it is
// refused, a login cannot help (the proxy's header wins over the login
// cookie) and the command must be restarted.
const HeaderProxy = "X-Kubemesos-Console-Proxy"

// consoleProxy passes every request to target with the bearer token, and
// streams answers as they come (Server-Sent Events). It answers only
// requests addressed to localhost, a loopback address, or host (the
// address it serves on, given with --accept-non-loopback; "" for none),
// so that a page of another site cannot reach it by a DNS name that
// resolves to this machine.
func consoleProxy(target *url.URL, token tokenFunc, host string) http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			// The console compares a login's Origin with the Host the
			// browser sent.
			r.Out.Host = r.In.Host
			// The token is the proxy's: a login cookie is not passed on.
			r.Out.Header.Del("Cookie")
		},
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Set(HeaderProxy, "kubectl-mesos-console")
			return nil
		},
		FlushInterval: -1,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return
			}
			writeConsoleError(w, http.StatusBadGateway, "the master's console did not answer through the port-forward: "+err.Error())
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderProxy, "kubectl-mesos-console")
		if !loopbackHost(r.Host) && (host == "" || hostOnly(r.Host) != host) {
			writeConsoleError(w, http.StatusForbidden, fmt.Sprintf("this proxy adds a token to what it passes on, so it answers only requests addressed to localhost, a loopback address or the address it serves on, not to %q", r.Host))
			return
		}
		tok, err := token(r.Context())
		if err != nil {
			writeConsoleError(w, http.StatusBadGateway, err.Error())
			return
		}
		out := r.Clone(r.Context())
		out.Header.Set("Authorization", "Bearer "+tok)
		rp.ServeHTTP(w, out)
	})
}

// consoleError is the console's error answer.
type consoleError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func writeConsoleError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(consoleError{Code: code, Message: msg})
}

// ConsoleMessage returns the message of a console error answer
// ({"code":…,"message":…}), or else the start of body as text.
func ConsoleMessage(body []byte) string {
	var e consoleError
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		return e.Message
	}
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "?")), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	if s == "" {
		return "(no message)"
	}
	return s
}

// checkConsole asks the console for the overview through the proxy at
// base, and says what went wrong unless it answers 200.
func checkConsole(ctx context.Context, base, from string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"api/v1/overview", nil)
	if err != nil {
		return err
	}
	c := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("checking the console through %s: %w", base, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := ConsoleMessage(body)
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return fmt.Errorf("the console does not accept the token from %s (%s): %s", from, resp.Status, msg)
	case http.StatusServiceUnavailable:
		return fmt.Errorf("the console is not ready (%s): %s; try again shortly", resp.Status, msg)
	}
	return fmt.Errorf("the console answered %s: %s", resp.Status, msg)
}
