package kubectlmesos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// The decline filters of a framework live only in the leading master's
// memory; `why FRAMEWORK` reads them from the master's console (GET
// /api/v1/frameworks/{namespace}/{name}). This file fetches them; the
// explanation itself stays a pure function of what is fetched.

// defaultConsoleURL is where `kubectl mesos console` serves by default.
var defaultConsoleURL = "http://127.0.0.1:" + strconv.Itoa(DefaultConsolePort)

// consoleReadTimeout bounds reading the filters, port-forward included,
// so that an unresponsive console delays `why` only that long.
const consoleReadTimeout = 30 * time.Second

// maxConsoleAnswer bounds the framework answer read from the console: it
// lists at most one offer and one filter per agent.
const maxConsoleAnswer = 16 << 20

// whyFlags are the flags of `why` that reach the master's console.
type whyFlags struct {
	consoleURL string
	token      string
}

// seeFilters says how to see the filters when no token is at hand.
var seeFilters = "to see them, run kubectl mesos console --service-account NAMESPACE/NAME (a service account that may read this namespace, such as one bound to the ClusterRole kubemesos-viewer) and pass --console-url " + defaultConsoleURL + ", or pass --token"

// checkConsoleURL checks --console-url: an http or https address.
func checkConsoleURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("--console-url %q: want an http(s) address such as %s, the one kubectl mesos console prints", s, defaultConsoleURL)
	}
	return nil
}

// declineFilters reads fw's decline filters from the master's console:
// at --console-url (with --token when given), else through a port-forward
// to the console with --token or the kubeconfig's own bearer token. When
// it cannot, it returns why, and how to see them, for a note: a failure of
// the console never fails `why`.
func (p *plugin) declineFilters(ctx context.Context, fw *kmv1.Framework) ([]DeclineFilter, string) {
	ctx, cancel := context.WithTimeout(ctx, consoleReadTimeout)
	defer cancel()
	if p.why.consoleURL != "" {
		filters, err := readFilters(ctx, p.why.consoleURL, p.why.token, "--token", fw)
		if err != nil {
			return nil, err.Error()
		}
		return filters, ""
	}
	cfg, err := p.restConfig()
	if err != nil {
		return nil, err.Error()
	}
	_, cs, err := p.clients()
	if err != nil {
		return nil, err.Error()
	}
	tokens, from, err := consoleToken(cs, cfg, consoleFlags{token: p.why.token}, p.opts.Now)
	token := ""
	if err == nil {
		token, err = tokens(ctx)
	}
	switch {
	case errors.Is(err, errNoToken):
		return nil, "your kubeconfig authenticates with a client certificate, which the master's console cannot check; " + seeFilters
	case errors.Is(err, errImpersonation):
		return nil, "your kubeconfig impersonates another identity (--as, --as-group), which the master's console cannot; " + seeFilters
	case err != nil:
		return nil, err.Error()
	}
	fwd, pod, _, err := p.forwardConsole(ctx, cfg, cs, nil)
	if err != nil {
		return nil, fmt.Sprintf("reaching the master's console failed: %v (or pass --console-url of a running kubectl mesos console)", err)
	}
	filters, err := readFilters(ctx, "http://"+fwd.Local, token, from, fw)
	if err != nil {
		if last := fwd.LastError(); last != nil {
			err = fmt.Errorf("%w (forwarding to pod %s/%s: %v)", err, pod.Namespace, pod.Name, last)
		}
		return nil, err.Error()
	}
	return filters, ""
}

// readFilters asks the console at base for framework fw, with token
// (from says where it comes from) unless it is empty, and returns the
// framework's decline filters; an error says what the console answered.
func readFilters(ctx context.Context, base, token, from string, fw *kmv1.Framework) ([]DeclineFilter, error) {
	u, err := url.JoinPath(base, "api/v1/frameworks", fw.Namespace, fw.Name)
	if err != nil {
		return nil, fmt.Errorf("the master's console address %q: %w", base, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("the master's console address %q: %w", base, err)
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	defer transport.CloseIdleConnections()
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("the master's console did not answer at %s: %w", base, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxConsoleAnswer))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of the master's console at %s: %w", base, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		filters, err := parseFrameworkFilters(body, fw.Namespace, fw.Name)
		if err != nil {
			return nil, fmt.Errorf("the answer of %s is not the master console's: %w", u, err)
		}
		return filters, nil
	case resp.StatusCode == http.StatusUnauthorized && token == "":
		return nil, fmt.Errorf("the master's console at %s asks for a token (%s): pass --token, or the --console-url of a running kubectl mesos console, which adds one", base, resp.Status)
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, fmt.Errorf("the master's console does not accept the token from %s (%s): %s", from, resp.Status, ConsoleMessage(body))
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("the master's console answered %s: %s (it shows a framework to an identity that may list frameworks and tasks in its namespace, once the master has run a cycle since it was created)", resp.Status, ConsoleMessage(body))
	}
	return nil, fmt.Errorf("the master's console answered %s: %s", resp.Status, ConsoleMessage(body))
}

// frameworkAnswer is what `why` reads of the console's framework answer
// (console.FrameworkDetail).
type frameworkAnswer struct {
	Namespace string           `json:"namespace"`
	Name      string           `json:"name"`
	Filters   *[]DeclineFilter `json:"filters"`
}

// parseFrameworkFilters reads the decline filters from the console's
// answer about framework namespace/name; an answer about another
// framework, without filters or with a filter lacking its agent or its
// end is refused.
func parseFrameworkFilters(body []byte, namespace, name string) ([]DeclineFilter, error) {
	var a frameworkAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("decoding it: %w", err)
	}
	if a.Namespace != namespace || a.Name != name {
		return nil, fmt.Errorf("it is about framework %q in namespace %q, not %s/%s", a.Name, a.Namespace, namespace, name)
	}
	if a.Filters == nil {
		return nil, errors.New("it has no filters")
	}
	for i, f := range *a.Filters {
		if f.AgentID == "" || f.Until.IsZero() {
			return nil, fmt.Errorf("its filter %d has no agentID or no end", i)
		}
	}
	return *a.Filters, nil
}
