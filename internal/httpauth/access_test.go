package httpauth

import (
	"context"
	"errors"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testclock "k8s.io/utils/clock/testing"
)

var fastRetry = wait.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 3}

// sarServer answers SubjectAccessReviews: with the errors in fail first,
// then allowed when the verb is in allow. It counts the requests.
type sarServer struct {
	allow    map[string]bool
	fail     []error
	requests int
	last     authorizationv1.SubjectAccessReviewSpec
}

func (s *sarServer) react(a k8stesting.Action) (bool, runtime.Object, error) {
	s.requests++
	if len(s.fail) > 0 {
		err := s.fail[0]
		s.fail = s.fail[1:]
		return true, nil, err
	}
	sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
	s.last = sar.Spec
	sar.Status.Allowed = s.allow[sar.Spec.ResourceAttributes.Verb]
	return true, sar, nil
}

func TestAccessReviewer(t *testing.T) {
	srv := &sarServer{allow: map[string]bool{"create": true}}
	cs := fake.NewClientset()
	cs.PrependReactor("create", "subjectaccessreviews", srv.react)
	clk := testclock.NewFakeClock(time.Now())
	r := &apiAccessReviewer{
		client:   cs.AuthorizationV1().SubjectAccessReviews(),
		backoff:  fastRetry,
		entries:  cache.NewLRUExpireCacheWithClock(accessCacheSize, clk),
		allowTTL: 10 * time.Second,
		denyTTL:  5 * time.Second,
	}
	ctx := context.Background()
	alice := &user.DefaultInfo{Name: "alice", UID: "u1", Groups: []string{"g"}, Extra: map[string][]string{"k": {"v"}}}
	create := Attributes{Verb: "create", Group: Group, Resource: "tasks", Namespace: "a"}
	del := Attributes{Verb: "delete", Group: Group, Resource: "frameworks", Namespace: "a", Name: "mc"}
	check := func(u user.Info, attrs Attributes, wantAllowed bool, wantRequests int) {
		t.Helper()
		allowed, _, err := r.review(ctx, u, attrs)
		if err != nil {
			t.Fatal(err)
		}
		if allowed != wantAllowed || srv.requests != wantRequests {
			t.Fatalf("review(%s, %s) = %v after %d requests; want %v after %d", u.GetName(), attrs, allowed, srv.requests, wantAllowed, wantRequests)
		}
	}
	check(alice, create, true, 1)
	want := authorizationv1.SubjectAccessReviewSpec{
		User: "alice", UID: "u1", Groups: []string{"g"}, Extra: map[string]authorizationv1.ExtraValue{"k": {"v"}},
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "create", Group: Group, Resource: "tasks", Namespace: "a"},
	}
	if srv.last.User != want.User || srv.last.UID != want.UID || *srv.last.ResourceAttributes != *want.ResourceAttributes || srv.last.Extra["k"][0] != "v" {
		t.Fatalf("asked %+v; want %+v", srv.last, want)
	}
	check(alice, create, true, 1) // kept
	check(alice, del, false, 2)
	check(alice, del, false, 2) // refusals are kept too
	check(&user.DefaultInfo{Name: "bob"}, create, true, 3)
	check(alice, Attributes{Verb: "create", Group: Group, Resource: "tasks", Namespace: "b"}, true, 4)
	clk.Step(6 * time.Second)
	check(alice, del, false, 5) // the refusal expired
	check(alice, create, true, 5)
	clk.Step(5 * time.Second)
	check(alice, create, true, 6) // the allowance expired

	// Passing failures are retried; the answer is then kept.
	srv.fail = []error{apierrors.NewInternalError(errors.New("boom")), apierrors.NewTooManyRequests("busy", 0)}
	check(alice, Attributes{Verb: "create", Resource: "x", Namespace: "a"}, true, 9)
	// Lasting ones are not retried, and never kept.
	srv.fail = []error{apierrors.NewForbidden(schema.GroupResource{Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}, "", errors.New("no"))}
	if _, _, err := r.review(ctx, alice, Attributes{Verb: "create", Resource: "y", Namespace: "a"}); err == nil || srv.requests != 10 {
		t.Fatalf("a refused review: %v after %d requests; want an error after 10", err, srv.requests)
	}
	check(alice, Attributes{Verb: "create", Resource: "y", Namespace: "a"}, true, 11)
	// Retries end.
	srv.fail = []error{apierrors.NewInternalError(errors.New("1")), apierrors.NewInternalError(errors.New("2")), apierrors.NewInternalError(errors.New("3"))}
	if _, _, err := r.review(ctx, alice, Attributes{Verb: "create", Resource: "z", Namespace: "a"}); err == nil || srv.requests != 14 {
		t.Fatalf("a failing API server: %v after %d requests; want an error after 14", err, srv.requests)
	}
}

func TestTokenReviewer(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		tr := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview).DeepCopy()
		switch tr.Spec.Token {
		case "good":
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: []string{"mesos"},
				User: authenticationv1.UserInfo{Username: "alice", UID: "u1", Groups: []string{"g"}, Extra: map[string]authenticationv1.ExtraValue{"k": {"v"}}}}
		case "other-audience":
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: []string{"elsewhere"}, User: authenticationv1.UserInfo{Username: "bob"}}
		case "down":
			return true, nil, apierrors.NewServiceUnavailable("down")
		default:
			tr.Status = authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}
		}
		return true, tr, nil
	})
	r := &apiTokenReviewer{client: cs.AuthenticationV1().TokenReviews(), audiences: []string{"mesos"}, backoff: fastRetry}
	ctx := context.Background()
	u, err := r.review(ctx, "good")
	if err != nil || u == nil || u.GetName() != "alice" || u.GetUID() != "u1" || u.GetGroups()[0] != "g" || u.GetExtra()["k"][0] != "v" {
		t.Fatalf("good token: %+v, %v", u, err)
	}
	for _, tok := range []string{"other-audience", "bad"} {
		if u, err := r.review(ctx, tok); u != nil || err != nil {
			t.Fatalf("%s: %+v, %v; want refused without an error", tok, u, err)
		}
	}
	if _, err := r.review(ctx, "down"); err == nil {
		t.Fatal("no error from an API server that cannot answer")
	}
}
