package mesosapi_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/mesosapi"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/httpauth"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// TestRefusals checks each status code and message Mesos gives a call it
// refuses, in both encodings where the body matters.
func TestRefusals(t *testing.T) {
	ns := newNamespace(t)
	url := startAPI(t, apiOptions(t, ns), false)
	// A Framework that exists but has no stream on this master.
	idle := b.MakeFramework("idle", ns).Obj()
	if err := env.Client.Create(context.Background(), idle); err != nil {
		t.Fatal(err)
	}
	es := subscribe(t, url, mesoswire.MediaJSON, frameworkInfo("refusals"))
	fwID := es.next(schedulerv1.Event_SUBSCRIBED).GetSubscribed().GetFrameworkId()
	suppress := func(id string) *schedulerv1.Call {
		return &schedulerv1.Call{Type: schedulerv1.Call_SUPPRESS.Enum(), FrameworkId: &mesosv1.FrameworkID{Value: &id}}
	}
	json, pb := mesoswire.MediaJSON, mesoswire.MediaProtobuf
	sub := subscribeCall(frameworkInfo("x"))
	cases := []struct {
		name string
		req  request
		code int
		msg  string
	}{
		{"GET", request{method: http.MethodGet}, http.StatusMethodNotAllowed, "Expecting one of { 'POST' }, but received 'GET'"},
		{"no Content-Type", request{body: []byte("{}")}, http.StatusBadRequest, "Expecting 'Content-Type' to be present"},
		{"text/plain", request{contentType: "text/plain", body: []byte("{}")}, http.StatusUnsupportedMediaType, "Expecting 'Content-Type' of application/json or application/x-protobuf"},
		{"not JSON", request{contentType: json, body: []byte("{")}, http.StatusBadRequest, "Failed to parse body into JSON"},
		{"JSON that is no Call", request{contentType: json, body: []byte(`{"type":7}`)}, http.StatusBadRequest, "Failed to convert JSON into Call protobuf"},
		{"not protobuf", request{contentType: pb, body: []byte{0xff, 0xff}}, http.StatusBadRequest, "Failed to parse body into Call protobuf"},
		{"no type", request{contentType: json, body: []byte(`{}`)}, http.StatusBadRequest, "Failed to validate scheduler::Call: Expecting 'type' to be present"},
		{"no framework_id", request{contentType: json, body: []byte(`{"type":"TEARDOWN"}`)}, http.StatusBadRequest, "Expecting 'framework_id' to be present"},
		{"no subscribe", request{contentType: json, body: []byte(`{"type":"SUBSCRIBE"}`)}, http.StatusBadRequest, "Expecting 'subscribe' to be present"},
		{"bad uuid", request{contentType: json, body: []byte(`{"type":"ACKNOWLEDGE","framework_id":{"value":"x"},"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"AAAA"}}`)},
			http.StatusBadRequest, "Not a valid UUID"},
		{"too large", request{contentType: json, body: []byte(`{"type":"SUBSCRIBE","x":"` + strings.Repeat("x", 64<<10) + `"}`)}, http.StatusRequestEntityTooLarge, "larger than the limit of 65536 bytes"},
		{"Accept unsatisfiable", request{contentType: json, accept: "text/html", body: encode(t, json, sub)}, http.StatusNotAcceptable, "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'"},
		{"Accept refuses with q=0", request{contentType: json, accept: "application/*;q=0", body: encode(t, json, sub)}, http.StatusNotAcceptable, "Expecting 'Accept'"},
		{"SUBSCRIBE with a stream ID", request{contentType: json, streamID: es.id, body: encode(t, json, sub)}, http.StatusBadRequest, "Subscribe calls should not include the 'Mesos-Stream-Id' header"},
		{"unknown framework", request{contentType: pb, streamID: es.id, body: encode(t, pb, suppress("no-such-id"))}, http.StatusBadRequest, "Framework cannot be found"},
		{"framework not subscribed", request{contentType: json, streamID: es.id, body: encode(t, json, suppress(string(idle.UID)))}, http.StatusForbidden, "Framework is not subscribed"},
		{"no stream ID", request{contentType: json, body: encode(t, json, suppress(fwID.GetValue()))}, http.StatusBadRequest, "All non-subscribe calls should include the 'Mesos-Stream-Id' header"},
		{"wrong stream ID", request{contentType: json, streamID: uuid.NewString(), body: encode(t, json, suppress(fwID.GetValue()))}, http.StatusBadRequest,
			"didn't match the stream ID currently associated with framework ID " + fwID.GetValue()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := tc.req.do(t, url)
			allow := resp.Header.Get("Allow")
			code, body := answer(t, resp)
			if code != tc.code || !strings.Contains(body, tc.msg) {
				t.Fatalf("got %d %q, want %d with %q", code, body, tc.code, tc.msg)
			}
			if code == http.StatusMethodNotAllowed && allow != http.MethodPost {
				t.Errorf("Allow: %q, want POST", allow)
			}
		})
	}
	// The stream was never disturbed by any of it: a call on it works.
	if code, body := call(t, url, pb, es.id, suppress(fwID.GetValue())); code != http.StatusAccepted || body != "" {
		t.Fatalf("SUPPRESS answered %d %q, want 202 and no body", code, body)
	}
}

// TestAuthentication checks who may call: without the anonymous opt-in a
// call needs credentials (401), a token the API server does not accept is
// refused (401), and an anonymous caller may only do what RBAC grants its
// ServiceAccount (403).
func TestAuthentication(t *testing.T) {
	sub := encode(t, mesoswire.MediaJSON, subscribeCall(frameworkInfo("anon")))
	url := startAPI(t, apiOptions(t, ""), false)
	resp := request{contentType: mesoswire.MediaJSON, body: sub}.do(t, url)
	challenge := resp.Header.Get("WWW-Authenticate")
	if code, body := answer(t, resp); code != http.StatusUnauthorized || !strings.Contains(body, "no credentials") || !strings.Contains(challenge, "Bearer") {
		t.Fatalf("got %d %q (WWW-Authenticate %q), want 401 with a challenge", code, body, challenge)
	}
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(string(sub)))
	req.Header.Set("Content-Type", mesoswire.MediaJSON)
	req.Header.Set("Authorization", "Bearer not-a-token")
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := answer(t, r2); code != http.StatusUnauthorized || !strings.Contains(body, "not accepted") {
		t.Fatalf("a bad token: got %d %q, want 401", code, body)
	}

	bare := newBareNamespace(t)
	url = startAPI(t, apiOptions(t, bare), false)
	if code, body := answer(t, request{contentType: mesoswire.MediaJSON, body: sub}.do(t, url)); code != http.StatusForbidden ||
		!strings.Contains(body, "system:serviceaccount:"+bare+":"+httpauth.DefaultAnonymousServiceAccount) {
		t.Fatalf("an anonymous caller without RBAC: got %d %q, want 403 naming its ServiceAccount", code, body)
	}
	var l kmv1.FrameworkList
	if err := env.Client.List(context.Background(), &l, client.InNamespace(bare)); err != nil || len(l.Items) != 0 {
		t.Fatalf("frameworks %v, %v: want none created by a refused call", l.Items, err)
	}
}

// TestServiceAccountToken checks that a framework that sends a
// ServiceAccount's token, as Bearer or as the secret of Basic auth, acts
// in that ServiceAccount's namespace with what RBAC grants it.
func TestServiceAccountToken(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fw"}}
	if err := env.Client.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fw"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: frameworkRole},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "fw"}}}
	if err := env.Client.Create(ctx, rb); err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "fw", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	url := startAPI(t, apiOptions(t, ""), false)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("system:serviceaccount:"+ns+":fw:"+tr.Status.Token))
	for i, auth := range []string{"Bearer " + tr.Status.Token, basic} {
		resp := request{contentType: mesoswire.MediaJSON, accept: mesoswire.MediaJSON, authorization: auth,
			body: encode(t, mesoswire.MediaJSON, subscribeCall(frameworkInfo("token")))}.do(t, url)
		if resp.StatusCode != http.StatusOK {
			code, body := answer(t, resp)
			t.Fatalf("SUBSCRIBE with %s answered %d %q", strings.Fields(auth)[0], code, body)
		}
		es := newEventStream(t, resp, mesoswire.MediaJSON)
		id := es.next(schedulerv1.Event_SUBSCRIBED).GetSubscribed().GetFrameworkId().GetValue()
		var l kmv1.FrameworkList
		if err := env.Client.List(ctx, &l, client.InNamespace(ns)); err != nil || len(l.Items) != i+1 {
			t.Fatalf("frameworks in %s: %d, %v; want %d", ns, len(l.Items), err, i+1)
		}
		// Calls on the stream carry the token too.
		suppress := &schedulerv1.Call{Type: schedulerv1.Call_SUPPRESS.Enum(), FrameworkId: &mesosv1.FrameworkID{Value: &id}}
		if code, body := answer(t, request{contentType: mesoswire.MediaJSON, streamID: es.id, authorization: auth, body: encode(t, mesoswire.MediaJSON, suppress)}.do(t, url)); code != http.StatusAccepted {
			t.Fatalf("SUPPRESS answered %d %q", code, body)
		}
		if code, _ := answer(t, request{contentType: mesoswire.MediaJSON, streamID: es.id, body: encode(t, mesoswire.MediaJSON, suppress)}.do(t, url)); code != http.StatusUnauthorized {
			t.Fatalf("SUPPRESS without the token answered %d, want 401", code)
		}
	}
}

// TestStandby checks that a master that does not lead redirects to the
// leader's advertised address, or answers 503 when the leader advertises
// none.
func TestStandby(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	key := types.NamespacedName{Namespace: inprocess.SystemNamespace, Name: kmv1.MasterLeaseName}
	holder := mesosapi.AdvertisedIdentity("other_1", "10.9.8.7:5050")
	_ = env.Client.Delete(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}})
	setHolder := func(id string) error {
		var l coordinationv1.Lease
		if err := env.Client.Get(ctx, key, &l); err != nil {
			l = coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
			l.Spec = coordinationv1.LeaseSpec{HolderIdentity: &id, LeaseDurationSeconds: ptr.To(int32(30)), RenewTime: ptr.To(metav1.NowMicro())}
			return env.Client.Create(ctx, &l)
		}
		l.Spec.HolderIdentity, l.Spec.RenewTime = &id, ptr.To(metav1.NowMicro())
		return env.Client.Update(ctx, &l)
	}
	// The system namespace, which another test may have made already.
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: key.Namespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if err := setHolder(holder); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Client.Delete(context.Background(), &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}})
	})
	ns := newNamespace(t)
	url := startAPI(t, apiOptions(t, ns), true)
	body := encode(t, mesoswire.MediaJSON, subscribeCall(frameworkInfo("standby")))
	resp := request{contentType: mesoswire.MediaJSON, body: body}.do(t, url+"?x=1")
	loc := resp.Header.Get("Location")
	if code, msg := answer(t, resp); code != http.StatusTemporaryRedirect || loc != "//10.9.8.7:5050"+mesosapi.Path+"?x=1" {
		t.Fatalf("got %d %q Location %q, want 307 to //10.9.8.7:5050%s?x=1", code, msg, loc, mesosapi.Path)
	}
	if err := setHolder("other_2"); err != nil {
		t.Fatal(err)
	}
	// A standby reads the Lease at most once a second.
	eventually(t, "503 for a leader without an address", func() bool {
		code, msg := answer(t, request{contentType: mesoswire.MediaJSON, body: body}.do(t, url))
		return code == http.StatusServiceUnavailable && strings.Contains(msg, "does not advertise")
	})
}

// TestSubscribeAndTeardown checks SUBSCRIBE in both encodings: the
// stream's headers and first events, the Framework and Lease it makes,
// and TEARDOWN.
func TestSubscribeAndTeardown(t *testing.T) {
	for _, mt := range []string{mesoswire.MediaJSON, mesoswire.MediaProtobuf} {
		t.Run(mt, func(t *testing.T) {
			ctx := context.Background()
			ns := newNamespace(t)
			url := startAPI(t, apiOptions(t, ns), false)
			info := frameworkInfo("My Framework_1!")
			info.Roles = []string{"batch"}
			info.Capabilities = []*mesosv1.FrameworkInfo_Capability{{Type: mesosv1.FrameworkInfo_Capability_MULTI_ROLE.Enum()}}
			info.Principal = proto.String("ops")
			resp := request{contentType: mt, accept: mt, body: encode(t, mt, subscribeCall(info))}.do(t, url)
			if resp.StatusCode != http.StatusOK {
				code, body := answer(t, resp)
				t.Fatalf("SUBSCRIBE answered %d %q", code, body)
			}
			if got := resp.Header.Get("Content-Type"); got != mt {
				t.Errorf("Content-Type %q, want %q", got, mt)
			}
			if resp.ContentLength != -1 || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
				t.Errorf("Content-Length %d, Transfer-Encoding %v; want a chunked stream", resp.ContentLength, resp.TransferEncoding)
			}
			if _, err := uuid.Parse(resp.Header.Get(mesosapi.HeaderStreamID)); err != nil {
				t.Errorf("Mesos-Stream-Id %q is not a UUID: %v", resp.Header.Get(mesosapi.HeaderStreamID), err)
			}
			es := newEventStream(t, resp, mt)
			sub := es.next(schedulerv1.Event_SUBSCRIBED).GetSubscribed()
			es.next(schedulerv1.Event_HEARTBEAT)
			if sub.GetHeartbeatIntervalSeconds() != 1 || sub.GetMasterInfo().GetPort() == 0 || sub.GetMasterInfo().GetAddress().GetIp() != "127.0.0.1" {
				t.Errorf("SUBSCRIBED %v: want a 1s heartbeat and the master's address", sub)
			}
			var l kmv1.FrameworkList
			if err := env.Client.List(ctx, &l, client.InNamespace(ns)); err != nil || len(l.Items) != 1 {
				t.Fatalf("frameworks %v, %v; want one", l.Items, err)
			}
			fw := l.Items[0]
			if string(fw.UID) != sub.GetFrameworkId().GetValue() || !strings.HasPrefix(fw.Name, "my-framework-1-") ||
				fw.Spec.Role != "batch" || ptr.Deref(fw.Spec.FailoverTimeoutSeconds, -1) != 30 || fw.Labels[kmv1.LabelAPI] != kmv1.APIMesosV1 ||
				!strings.Contains(fw.Annotations[mesosapi.AnnotationFrameworkInfo], `"principal":"ops"`) {
				t.Errorf("Framework %s: %+v %v %v; want it to carry the FrameworkInfo", fw.Name, fw.Spec, fw.Labels, fw.Annotations)
			}
			// The master holds the scheduler Lease for the stream, so the
			// framework is Active.
			eventually(t, "the framework to be Active", func() bool {
				var cur kmv1.Framework
				return env.Client.Get(ctx, keyOf(&fw), &cur) == nil && cur.Status.Phase == kmv1.FrameworkActive
			})
			var lease coordinationv1.Lease
			if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: kmv1.SchedulerLeaseName(fw.Name)}, &lease); err != nil ||
				ptr.Deref(lease.Spec.HolderIdentity, "") != mesosapi.LeaseHolderPrefix+es.id {
				t.Fatalf("scheduler Lease %v, %v; want it held for stream %s", lease.Spec, err, es.id)
			}
			es.next(schedulerv1.Event_HEARTBEAT)

			teardown := &schedulerv1.Call{Type: schedulerv1.Call_TEARDOWN.Enum(), FrameworkId: sub.GetFrameworkId()}
			if code, body := call(t, url, mt, es.id, teardown); code != http.StatusAccepted {
				t.Fatalf("TEARDOWN answered %d %q", code, body)
			}
			es.ended()
			eventually(t, "the framework to complete", func() bool {
				var cur kmv1.Framework
				return env.Client.Get(ctx, keyOf(&fw), &cur) == nil && cur.Status.Phase == kmv1.FrameworkCompleted
			})
			if code, _ := call(t, url, mt, es.id, teardown); code != http.StatusForbidden {
				t.Errorf("a call after TEARDOWN answered %d, want 403", code)
			}
		})
	}
}

// TestResubscribe checks that a newer subscription fails the older stream
// over, and that a removed framework cannot subscribe again.
func TestResubscribe(t *testing.T) {
	ns := newNamespace(t)
	url := startAPI(t, apiOptions(t, ns), false)
	mt := mesoswire.MediaJSON
	first := subscribe(t, url, mt, frameworkInfo("resub"))
	id := first.next(schedulerv1.Event_SUBSCRIBED).GetSubscribed().GetFrameworkId()

	again := frameworkInfo("resub")
	again.Id = id
	second := subscribe(t, url, mesoswire.MediaProtobuf, again)
	if got := second.next(schedulerv1.Event_SUBSCRIBED).GetSubscribed().GetFrameworkId(); !proto.Equal(got, id) {
		t.Fatalf("re-subscription got framework_id %v, want %v", got, id)
	}
	if msg := first.next(schedulerv1.Event_ERROR).GetError().GetMessage(); msg != "Framework failed over" {
		t.Fatalf("old stream got ERROR %q, want \"Framework failed over\"", msg)
	}
	first.ended()
	revive := &schedulerv1.Call{Type: schedulerv1.Call_REVIVE.Enum(), FrameworkId: id}
	if code, body := call(t, url, mt, first.id, revive); code != http.StatusBadRequest || !strings.Contains(body, "didn't match") {
		t.Errorf("a call on the old stream answered %d %q, want 400", code, body)
	}
	if code, body := call(t, url, mt, second.id, revive); code != http.StatusAccepted {
		t.Errorf("a call on the new stream answered %d %q, want 202", code, body)
	}

	// UPDATE_FRAMEWORK: 200, kept; a new role is refused.
	update := frameworkInfo("resub")
	update.Id, update.FailoverTimeout = id, proto.Float64(99)
	uf := &schedulerv1.Call{Type: schedulerv1.Call_UPDATE_FRAMEWORK.Enum(), FrameworkId: id, UpdateFramework: &schedulerv1.Call_UpdateFramework{FrameworkInfo: update}}
	if code, body := call(t, url, mt, second.id, uf); code != http.StatusOK {
		t.Errorf("UPDATE_FRAMEWORK answered %d %q, want 200", code, body)
	}
	var fws kmv1.FrameworkList
	if err := env.Client.List(context.Background(), &fws, client.InNamespace(ns)); err != nil || len(fws.Items) != 1 || ptr.Deref(fws.Items[0].Spec.FailoverTimeoutSeconds, 0) != 99 {
		t.Errorf("frameworks %v, %v: want one with failoverTimeoutSeconds 99", fws.Items, err)
	}
	update.Role = proto.String("other")
	if code, body := call(t, url, mt, second.id, uf); code != http.StatusBadRequest || !strings.Contains(body, "cannot change the role") {
		t.Errorf("UPDATE_FRAMEWORK of the role answered %d %q, want 400", code, body)
	}

	unknown := frameworkInfo("resub")
	unknown.Id = &mesosv1.FrameworkID{Value: proto.String(uuid.NewString())}
	gone := subscribe(t, url, mt, unknown)
	if msg := gone.next(schedulerv1.Event_ERROR).GetError().GetMessage(); msg != "Framework has been removed" {
		t.Fatalf("unknown framework got ERROR %q", msg)
	}
	gone.ended()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func keyOf(o interface {
	GetNamespace() string
	GetName() string
}) types.NamespacedName {
	return types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}
}
