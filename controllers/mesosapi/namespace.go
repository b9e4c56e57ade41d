package mesosapi

import (
	"net/http"

	"k8s.io/apiserver/pkg/authentication/serviceaccount"

	"github.com/kubemesos/kubemesos/internal/httpauth"
)

// FlagAnonymousNamespace is the master flag that lets calls without
// credentials act in one namespace.
const FlagAnonymousNamespace = "--mesos-api-anonymous-namespace"

// authenticate says who sends r (httpauth: a Kubernetes token, or the
// anonymous ServiceAccount when the operator opted in) and in which
// namespace the call acts: the one place that decides it. A
// ServiceAccount acts in its own namespace; an anonymous caller in the
// opt-in namespace. Other users have no namespace of their own: they are
// refused, since a framework's objects must live somewhere the caller
// answers for.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*httpauth.Caller, string, bool) {
	caller, err := s.auth.Authenticate(r)
	if err != nil {
		s.auth.WriteError(w, err)
		return nil, "", false
	}
	if caller.Namespace != "" {
		return caller, caller.Namespace, true
	}
	if ns, _, err := serviceaccount.SplitUsername(caller.User.GetName()); err == nil && ns != "" {
		return caller, ns, true
	}
	forbidden("The user '" + httpauth.Truncate(caller.User.GetName(), 256) + "' is not a ServiceAccount: kubemesos places a Mesos framework in the namespace of the ServiceAccount whose token it sends").Write(w)
	return nil, "", false
}

// authorize checks that caller may make call for the framework named
// framework ("" when not known yet) in namespace, by httpauth's table.
func (s *Server) authorize(r *http.Request, caller *httpauth.Caller, call, namespace, framework string) *httpError {
	if err := s.auth.AuthorizeCall(r.Context(), caller, call, namespace, framework); err != nil {
		return &httpError{Code: httpauth.StatusCode(err), Msg: err.Error()}
	}
	return nil
}
