package mesosapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	"github.com/kubemesos/kubemesos/internal/mesosjson"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
	"github.com/kubemesos/kubemesos/internal/scheme"
)

// testNow is the fake clock's time.
var testNow = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// TestNoLeader checks that a standby that knows no leader answers 503.
func TestNoLeader(t *testing.T) {
	s := &Server{
		opts:    Options{AnonymousNamespace: "ns", LeaderLease: types.NamespacedName{Namespace: "kubemesos-system", Name: "kubemesos-master"}},
		reader:  fake.NewClientBuilder().WithScheme(scheme.New()).Build(),
		elected: make(chan struct{}), clock: clocktesting.NewFakeClock(testNow), log: logr.Discard(), streams: newRegistry(),
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, Path, strings.NewReader("{}")))
	if w.Code != http.StatusServiceUnavailable || w.Body.String() != "No leader elected" {
		t.Fatalf("got %d %q, want 503 \"No leader elected\"", w.Code, w.Body.String())
	}
}

func TestAdvertisedAddress(t *testing.T) {
	for id, want := range map[string]string{
		AdvertisedIdentity("pod-1_abc", "10.0.0.1:5050"):  "10.0.0.1:5050",
		AdvertisedIdentity("pod-1_abc", "[fd00::1]:5050"): "[fd00::1]:5050",
		"pod-1_abc": "", "pod@": "",
	} {
		got, ok := AdvertisedAddress(id)
		if got != want || ok != (want != "") {
			t.Errorf("AdvertisedAddress(%q) = %q, %v; want %q", id, got, ok, want)
		}
	}
}

func TestFrameworkNamePrefix(t *testing.T) {
	for name, want := range map[string]string{
		"My Framework_1!": "my-framework-1-", "": "mesos-", "---": "mesos-", "Ünïcode": "n-code-",
		strings.Repeat("a", 60): strings.Repeat("a", 40) + "-",
	} {
		if got := frameworkNamePrefix(name); got != want {
			t.Errorf("frameworkNamePrefix(%q) = %q, want %q", name, got, want)
		}
	}
}

// FuzzDecodeCall feeds the handler's decoding and validation arbitrary
// bodies in both encodings: it must refuse with a 400 and a message, or
// accept a call that encodes again, never panic.
func FuzzDecodeCall(f *testing.F) {
	for _, seed := range []string{
		`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`,
		`{"type":"ACKNOWLEDGE","framework_id":{"value":"f"},"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"AAAAAAAAQAAAAAAAAAAAAA=="}}`,
		`{"type":"ACCEPT","framework_id":{"value":"f"},"accept":{"offer_ids":[{"value":"o"}],"operations":[{"type":"LAUNCH"}]}}`,
		`{`, `[]`, `{"type":7}`,
	} {
		f.Add(false, []byte(seed))
		var c schedulerv1.Call
		if err := mesosjson.Unmarshal([]byte(seed), &c); err == nil {
			b, _ := proto.Marshal(&c)
			f.Add(true, b)
		}
	}
	f.Fuzz(func(t *testing.T, protobuf bool, body []byte) {
		c := mesoswire.JSON
		if protobuf {
			c = mesoswire.Protobuf
		}
		call, herr := decodeCall(c, body)
		if herr != nil {
			if herr.Code != http.StatusBadRequest || herr.Msg == "" {
				t.Fatalf("refused with %d %q", herr.Code, herr.Msg)
			}
			return
		}
		_ = validateCall(call)
		if _, err := proto.Marshal(call); err != nil {
			t.Fatalf("a decoded call does not encode: %v", err)
		}
	})
}
