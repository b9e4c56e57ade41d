package mesosapi

import (
	"net/http"
)

// FlagAnonymousNamespace is the master flag that lets calls without
// credentials act in one namespace.
const FlagAnonymousNamespace = "--mesos-api-anonymous-namespace"

// namespaceOf decides in which namespace a call acts. It is the one
// place that does: Kubernetes authentication replaces it (an
// authenticated service account acts in its own namespace). Until then
// only the explicit anonymous opt-in lets a call in; without it every
// call is refused with 401.
func (s *Server) namespaceOf(r *http.Request) (string, *httpError) {
	if s.opts.AnonymousNamespace != "" {
		return s.opts.AnonymousNamespace, nil
	}
	return "", &httpError{http.StatusUnauthorized, "This master does not authenticate scheduler calls yet; set " +
		FlagAnonymousNamespace + " to let calls without credentials act in one namespace (unsafe on a shared cluster)"}
}
