// Package httpauth tells the master's Mesos scheduler HTTP API (and, later,
// the agent's executor API and the web UI) who sends a request and what that
// caller may do, by asking the Kubernetes API server: TokenReview for who,
// SubjectAccessReview for what.
//
// # Credentials
//
// A caller sends a Kubernetes token (a ServiceAccount token from the
// TokenRequest API or `kubectl create token`, or any token the API server
// accepts) in one of two ways:
//
//   - `Authorization: Bearer <token>`.
//   - `Authorization: Basic base64(<principal>:<token>)`, the way a Mesos
//     framework sends its principal and secret: the secret is the token.
//     The last colon separates the two, since Kubernetes user names hold
//     colons and tokens never do. The principal must be empty or equal to
//     the user name the token authenticates as (for a ServiceAccount,
//     `system:serviceaccount:<namespace>:<name>`); any other principal is
//     refused with 401. Mesos itself refuses a framework whose principal
//     differs from the authenticated one, so a framework configured this
//     way keeps its principal meaningful, and a principal can never be used
//     to claim another identity.
//
// The scheme name is matched without regard to case (RFC 7235). Answers of
// the API server are kept for a short time in a cache bounded in size
// (Config.TokenCacheSize entries) and in time (Config.TokenSuccessTTL for
// accepted tokens, Config.TokenFailureTTL for refused ones), keyed by a keyed
// hash of the token, so that no token is held in memory. Failures to reach
// the API server are never cached.
//
// # Authorization
//
// Each Mesos call is checked by SubjectAccessReview for what it does to the
// kubemesos objects in its namespace, as if the caller made the same change
// with kubectl: the table SchedulerCalls is the one home of that rule.
// Answers are kept in a cache bounded in size and in time (Config.AllowTTL,
// Config.DenyTTL); failures are never kept. (The API server library's
// delegating authorizer would do the same, but it links CEL, gRPC and
// OpenTelemetry into the binary: the master grew by 29 MB (60%), against
// 41 kB for this package.)
//
// # Anonymous callers
//
// A request without an Authorization header is refused with 401 unless the
// operator opts in to anonymous access by setting Config.Anonymous; the
// master's flags for that are to be `--mesos-api-anonymous-namespace=NS`
// (turns it on) and `--mesos-api-anonymous-service-account=NAME` (default
// "mesos-anonymous"). Such a request then acts as the ServiceAccount NAME in
// NS (`system:serviceaccount:NS:NAME`, with the groups of a ServiceAccount,
// but not system:authenticated): it may only do what RBAC grants that
// ServiceAccount, and never anything outside NS, whatever RBAC grants. A
// request with credentials that are not accepted is refused with 401 in
// either mode; it never falls back to anonymous.
//
// # Use
//
// Wrap the handler in Auth.Middleware; in the handler, read the caller with
// CallerFrom and check each call with Auth.AuthorizeCall (or any other
// permission with Auth.Authorize, as the web UI will for reading a
// namespace), answering a refusal with Auth.WriteError:
//
//	a, err := httpauth.New(httpauth.Config{Client: clientset, Log: log})
//	mux.Handle("/api/v1/scheduler", a.Middleware(scheduler))
//	// in scheduler, once the call is decoded:
//	caller, _ := httpauth.CallerFrom(r.Context())
//	if err := a.AuthorizeCall(r.Context(), caller, "SUBSCRIBE", namespace, name); err != nil {
//		a.WriteError(w, err)
//		return
//	}
//
// # Answers
//
// Errors are text bodies with the status codes Mesos uses:
//
//   - 401 Unauthorized, with `WWW-Authenticate: Basic realm="R",Bearer
//     realm="R"` (Config.Realm, by default Mesos's scheduler realm
//     "mesos-master-scheduler"; a rejected token adds
//     `error="invalid_token"` to the Bearer challenge), for missing or
//     refused credentials;
//   - 403 Forbidden for a call the caller may not make;
//   - 503 Service Unavailable when the API server cannot answer a review, so
//     that the client retries: an outage never turns into a 401 or 403.
package httpauth
