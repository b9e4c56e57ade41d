package console

import (
	"context"
	"errors"
	"sync"

	"k8s.io/client-go/util/workqueue"

	"github.com/kubemesos/kubemesos/internal/httpauth"
)

// The permissions the console checks, by SubjectAccessReview, as the
// viewer: reading a namespace's frameworks and tasks (and so its offers,
// which belong to its frameworks) takes list on both there; reading the
// agents takes list on agents, which are cluster scoped; a task's logs
// take get on pods/log in its namespace.
var (
	mayListAgents     = httpauth.Attributes{Verb: "list", Group: httpauth.Group, Resource: "agents"}
	mayListFrameworks = httpauth.Attributes{Verb: "list", Group: httpauth.Group, Resource: "frameworks"}
	mayListTasks      = httpauth.Attributes{Verb: "list", Group: httpauth.Group, Resource: "tasks"}
	mayGetPodLogs     = httpauth.Attributes{Verb: "get", Resource: "pods", Subresource: "log"}
)

// reviewWorkers bounds the reviews of one viewer's namespaces in flight.
const reviewWorkers = 8

// allowed asks whether caller may do what attrs say: false when refused,
// an error when the API server could not say.
func allowed(ctx context.Context, auth *httpauth.Auth, caller *httpauth.Caller, attrs httpauth.Attributes) (bool, error) {
	err := auth.Authorize(ctx, caller, attrs)
	var forbidden *httpauth.ForbiddenError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &forbidden):
		return false, nil
	default:
		return false, err
	}
}

// readsNamespace reports whether caller may read namespace ns ("" for
// every namespace): list frameworks and tasks there.
func readsNamespace(ctx context.Context, auth *httpauth.Auth, caller *httpauth.Caller, ns string) (bool, error) {
	for _, attrs := range []httpauth.Attributes{mayListFrameworks, mayListTasks} {
		attrs.Namespace = ns
		if ok, err := allowed(ctx, auth, caller, attrs); !ok || err != nil {
			return false, err
		}
	}
	return true, nil
}

// accessOf finds out what caller may read of the namespaces of m. The
// answers are the API server's, kept briefly by auth per user.
func accessOf(ctx context.Context, auth *httpauth.Auth, caller *httpauth.Caller, namespaces []string) (*access, error) {
	a := &access{ns: map[string]bool{}}
	var err error
	if a.agents, err = allowed(ctx, auth, caller, mayListAgents); err != nil {
		return nil, err
	}
	if a.all, err = readsNamespace(ctx, auth, caller, ""); err != nil || a.all {
		return a, err
	}
	var mu sync.Mutex
	var firstErr error
	workqueue.ParallelizeUntil(ctx, reviewWorkers, len(namespaces), func(i int) {
		ok, err := readsNamespace(ctx, auth, caller, namespaces[i])
		mu.Lock()
		defer mu.Unlock()
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if ok {
			a.ns[namespaces[i]] = true
		}
	})
	if firstErr != nil {
		return nil, firstErr
	}
	return a, ctx.Err()
}
