package mesosapi_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/controllers/mesosapi"
	b "github.com/kubemesos/kubemesos/internal/builders"
	"github.com/kubemesos/kubemesos/internal/httpauth"
	"github.com/kubemesos/kubemesos/internal/inprocess"
	"github.com/kubemesos/kubemesos/internal/mesosjson"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
	"github.com/kubemesos/kubemesos/internal/recordio"
	"github.com/kubemesos/kubemesos/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// apiOptions are the scheduler API's options in these tests: a free
// loopback port, short heartbeats and Leases, and a small body limit.
func apiOptions(t *testing.T, anonymous string) mesosapi.Options {
	t.Helper()
	o := mesosapi.DefaultOptions()
	o.BindAddress = inprocess.FreeAddr(t)
	o.AdvertiseAddress = o.BindAddress
	o.AnonymousNamespace = anonymous
	o.HeartbeatInterval = time.Second
	o.SchedulerLeaseDuration = 3 * time.Second
	o.MaxBodyBytes = 64 << 10
	return o
}

// frameworkRole is what a Mesos framework needs in its namespace, as the
// chart's ClusterRole kubemesos-mesos-framework grants it.
const frameworkRole = "test-mesos-framework"

// newNamespace creates a namespace for one test, where the anonymous
// ServiceAccount may do what a framework does.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := newBareNamespace(t)
	ctx := context.Background()
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: frameworkRole}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{kmv1.GroupVersion.Group}, Resources: []string{"frameworks", "tasks", "offers"}, Verbs: []string{"get", "list", "create", "update", "patch", "delete"}},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create"}},
	}}
	if err := env.Client.Create(ctx, cr); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mesos-anonymous"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: frameworkRole},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: httpauth.DefaultAnonymousServiceAccount}}}
	if err := env.Client.Create(ctx, rb); err != nil {
		t.Fatal(err)
	}
	return ns
}

// newBareNamespace creates a namespace where nobody is granted anything.
func newBareNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "mesos-"}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// startAPI runs a master (leader without election unless leaderElect)
// that serves the scheduler API with o, and waits until it listens. It
// returns the endpoint's URL.
func startAPI(t *testing.T, o mesosapi.Options, leaderElect bool) string {
	t.Helper()
	// The production accept window: the tests' 300 ms can end between the
	// Task creates of one ACCEPT on a busy machine, and the offer is then
	// used up before the last of them is admitted (TASK_DROPPED). Every
	// launch here says how many Tasks it creates, so its offer is used up
	// as soon as all are admitted, however long the window.
	mo := inprocess.MasterOptions()
	mo.AcceptWindow = 2 * time.Second
	inprocess.LaunchMaster(t, env.Config, inprocess.MasterConfig{Options: mo, ID: "master", LeaderElect: leaderElect, MesosAPI: &o})
	testenv.Eventually(t, "the scheduler API to listen", 30*time.Second, func() bool {
		c, err := net.Dial("tcp", o.BindAddress)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
	url := "http://" + o.BindAddress + mesosapi.Path
	if !leaderElect {
		// Leading once the manager has started everything: then a call
		// gets past the redirect.
		testenv.Eventually(t, "the master to lead", 30*time.Second, func() bool {
			code, _ := answer(t, request{method: http.MethodGet}.do(t, url))
			return code != http.StatusServiceUnavailable
		})
	}
	return url
}

// request is one HTTP call to the API.
type request struct {
	method, contentType, accept, streamID, authorization string
	body                                                 []byte
}

func (r request) do(t *testing.T, url string) *http.Response {
	t.Helper()
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.accept != "" {
		req.Header.Set("Accept", r.accept)
	}
	if r.streamID != "" {
		req.Header.Set(mesosapi.HeaderStreamID, r.streamID)
	}
	if r.authorization != "" {
		req.Header.Set("Authorization", r.authorization)
	}
	// No redirects followed: the tests look at the 307 itself.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// answer reads a whole response: its status and body.
func answer(t *testing.T, resp *http.Response) (int, string) {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// encode writes a call in the media type's form.
func encode(t *testing.T, mediaType string, c *schedulerv1.Call) []byte {
	t.Helper()
	var b []byte
	var err error
	if mediaType == mesoswire.MediaProtobuf {
		b, err = proto.Marshal(c)
	} else {
		b, err = mesosjson.Marshal(c)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eventStream reads the events of a subscription.
type eventStream struct {
	t         *testing.T
	resp      *http.Response
	r         *recordio.Reader
	mediaType string
	id        string
	events    chan *schedulerv1.Event
	errs      chan error
	// offers are those of OFFERS events passed over by next.
	offers []*mesosv1.Offer
}

func newEventStream(t *testing.T, resp *http.Response, mediaType string) *eventStream {
	es := &eventStream{t: t, resp: resp, r: recordio.NewReader(resp.Body, 1<<20), mediaType: mediaType,
		id: resp.Header.Get(mesosapi.HeaderStreamID), events: make(chan *schedulerv1.Event, 1024), errs: make(chan error, 1)}
	t.Cleanup(func() { _ = resp.Body.Close() })
	go func() {
		for {
			rec, err := es.r.ReadRecord()
			if err != nil {
				es.errs <- err
				close(es.events)
				return
			}
			e := &schedulerv1.Event{}
			if mediaType == mesoswire.MediaProtobuf {
				err = proto.Unmarshal(rec, e)
			} else {
				err = mesosjson.Unmarshal(rec, e)
			}
			if err != nil {
				es.errs <- err
				close(es.events)
				return
			}
			es.events <- e
		}
	}()
	return es
}

// next returns the next event that is not a HEARTBEAT (unless want is
// HEARTBEAT), failing the test if it is not of type want.
func (es *eventStream) next(want schedulerv1.Event_Type) *schedulerv1.Event {
	es.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e, ok := <-es.events:
			if !ok {
				es.t.Fatalf("stream ended waiting for %s: %v", want, <-es.errs)
			}
			if e.GetType() == schedulerv1.Event_HEARTBEAT && want != schedulerv1.Event_HEARTBEAT {
				continue
			}
			if e.GetType() == schedulerv1.Event_OFFERS && want != schedulerv1.Event_OFFERS {
				// The master offers what is free whenever it likes.
				es.offers = append(es.offers, e.GetOffers().GetOffers()...)
				continue
			}
			if e.GetType() != want {
				es.t.Fatalf("got event %s (%v), want %s", e.GetType(), e, want)
			}
			return e
		case <-timeout:
			es.t.Fatalf("timed out waiting for a %s event", want)
		}
	}
}

// latestOffer returns the newest offer among those next passed over, or
// else the next OFFERS event's first, and forgets the others: an older
// one may have been used up or rescinded since.
func (es *eventStream) latestOffer() *mesosv1.Offer {
	es.t.Helper()
	if n := len(es.offers); n > 0 {
		o := es.offers[n-1]
		es.offers = nil
		return o
	}
	return es.next(schedulerv1.Event_OFFERS).GetOffers().GetOffers()[0]
}

// ended waits for the stream to end cleanly.
func (es *eventStream) ended() {
	es.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e, ok := <-es.events:
			if !ok {
				if err := <-es.errs; err != io.EOF {
					es.t.Fatalf("stream ended with %v, want a clean end", err)
				}
				return
			}
			if e.GetType() != schedulerv1.Event_HEARTBEAT {
				es.t.Fatalf("got %s, want the stream to end", e.GetType())
			}
		case <-timeout:
			es.t.Fatal("timed out waiting for the stream to end")
		}
	}
}

// subscribeCall is a SUBSCRIBE call for info.
func subscribeCall(info *mesosv1.FrameworkInfo) *schedulerv1.Call {
	return &schedulerv1.Call{Type: schedulerv1.Call_SUBSCRIBE.Enum(), FrameworkId: info.GetId(),
		Subscribe: &schedulerv1.Call_Subscribe{FrameworkInfo: info}}
}

// subscribe subscribes and returns the stream once it answered 200.
func subscribe(t *testing.T, url, mediaType string, info *mesosv1.FrameworkInfo) *eventStream {
	t.Helper()
	resp := request{contentType: mediaType, accept: mediaType, body: encode(t, mediaType, subscribeCall(info))}.do(t, url)
	if resp.StatusCode != http.StatusOK {
		code, body := answer(t, resp)
		t.Fatalf("SUBSCRIBE answered %d %q", code, body)
	}
	return newEventStream(t, resp, mediaType)
}

// frameworkInfo is a FrameworkInfo named name.
func frameworkInfo(name string) *mesosv1.FrameworkInfo {
	return &mesosv1.FrameworkInfo{User: proto.String("nobody"), Name: proto.String(name), FailoverTimeout: proto.Float64(30)}
}

// call sends a call on a stream and returns the answer.
func call(t *testing.T, url, mediaType, streamID string, c *schedulerv1.Call) (int, string) {
	t.Helper()
	return answer(t, request{contentType: mediaType, streamID: streamID, body: encode(t, mediaType, c)}.do(t, url))
}

// addAgent creates a Node and its Agent with an endpoint, and renews its
// heartbeat Lease until the test ends.
func addAgent(t *testing.T, node, endpoint string, res ...string) {
	t.Helper()
	registerAgent(t, b.MakeAgent(node).Resources(res...).Endpoint(endpoint).Obj())
}

// registerAgent creates a Node and the Agent a of it, and renews its
// heartbeat Lease until the test ends.
func registerAgent(t *testing.T, a *kmv1.Agent) {
	t.Helper()
	node := a.Name
	ctx := context.Background()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}
	if err := env.Client.Create(ctx, n); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: inprocess.SystemNamespace, Name: kmv1.AgentLeaseName(node)}
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: key.Namespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// Registered first, so it runs after the Lease's holder has stopped.
	t.Cleanup(func() {
		bg := context.Background()
		_ = env.Client.Delete(bg, &kmv1.Agent{ObjectMeta: metav1.ObjectMeta{Name: node}})
		_ = env.Client.Delete(bg, n)
		_ = env.Client.Delete(bg, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}})
	})
	inprocess.HoldLease(t, env.Client, key, inprocess.LeaseHold{Kind: kmv1.LeaseKindAgent, Duration: time.Second})
}
