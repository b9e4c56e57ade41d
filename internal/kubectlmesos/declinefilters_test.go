package kubectlmesos

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubemesos/kubemesos/controllers/console"
	"github.com/kubemesos/kubemesos/internal/builders"
)

func TestCheckConsoleURL(t *testing.T) {
	for in, ok := range map[string]bool{
		"":                         true,
		"http://127.0.0.1:5080":    true,
		"http://127.0.0.1:5080/":   true,
		"https://console.example/": true,
		"127.0.0.1:5080":           false,
		"ftp://127.0.0.1:5080":     false,
		"http://":                  false,
		"http://u:p@127.0.0.1":     false,
		"http://127.0.0.1/?q=1":    false,
		"http://127.0.0.1/#frag":   false,
		"http://[::1":              false,
	} {
		if err := checkConsoleURL(in); (err == nil) != ok {
			t.Errorf("checkConsoleURL(%q) = %v, want ok %v", in, err, ok)
		}
	}
}

// TestParseFrameworkFiltersReadsTheConsole: what the console writes for a
// framework is what why reads.
func TestParseFrameworkFiltersReadsTheConsole(t *testing.T) {
	until := time.Date(2026, 11, 26, 12, 4, 5, 0, time.UTC)
	d := console.FrameworkDetail{
		FrameworkSummary: console.FrameworkSummary{Namespace: "team", Name: "big", OutstandingOffers: 1, FilteredAgents: 2},
		Offers:           []console.OfferView{{Namespace: "team", Name: "big-n3-x", Node: "n3"}},
		Filters:          []console.Filter{{AgentID: "n1-id", Node: "n1", Until: until}, {AgentID: "n2-id", Until: until.Add(time.Second)}},
	}
	body, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseFrameworkFilters(body, "team", "big")
	if err != nil {
		t.Fatal(err)
	}
	want := []DeclineFilter{{AgentID: "n1-id", Node: "n1", Until: until}, {AgentID: "n2-id", Until: until.Add(time.Second)}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("filters (-want +got):\n%s", diff)
	}
	d.Filters = []console.Filter{}
	body, _ = json.Marshal(d)
	if got, err := parseFrameworkFilters(body, "team", "big"); err != nil || len(got) != 0 {
		t.Errorf("no filters = %v, %v; want none, no error", got, err)
	}
}

func TestParseFrameworkFiltersRefuses(t *testing.T) {
	for body, want := range map[string]string{
		`<!doctype html><title>console</title>`:                                                       "decoding it",
		`{"namespace":"team","name":"other","filters":[]}`:                                            `it is about framework "other" in namespace "team", not team/big`,
		`{"namespace":"team","name":"big"}`:                                                           "it has no filters",
		`{"namespace":"team","name":"big","filters":null}`:                                            "it has no filters",
		`{"namespace":"team","name":"big","filters":[{"agentID":"","until":"2026-11-26T12:00:00Z"}]}`: "its filter 0 has no agentID or no end",
		`{"namespace":"team","name":"big","filters":[{"agentID":"a"}]}`:                               "its filter 0 has no agentID or no end",
		`{"namespace":"team","name":"big","filters":[{"agentID":"a","until":"soon"}]}`:                "decoding it",
	} {
		if _, err := parseFrameworkFilters([]byte(body), "team", "big"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseFrameworkFilters(%s) = %v, want an error containing %q", body, err, want)
		}
	}
}

func FuzzParseFrameworkFilters(f *testing.F) {
	for _, s := range []string{
		`{"namespace":"team","name":"big","filters":[{"agentID":"n1-id","node":"n1","until":"2026-11-26T12:04:05Z"}]}`,
		`{"namespace":"team","name":"big","filters":[]}`,
		`{"namespace":"team","name":"big","filters":null}`,
		`{"code":503,"message":"No leader elected."}`,
		`[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		filters, err := parseFrameworkFilters(body, "team", "big")
		if err != nil {
			if filters != nil {
				t.Errorf("parseFrameworkFilters(%q) returned filters with an error", body)
			}
			return
		}
		for _, df := range filters {
			if df.AgentID == "" || df.Until.IsZero() {
				t.Errorf("parseFrameworkFilters(%q) accepted %+v", body, df)
			}
		}
	})
}

// fakeFrameworkConsole answers GET /api/v1/frameworks/team/big with
// status and body, and records the Authorization headers it is sent.
func fakeFrameworkConsole(t *testing.T, status int, body string) (*httptest.Server, *[]string) {
	t.Helper()
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/frameworks/team/big" {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		auth = append(auth, r.Header.Get("Authorization"))
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &auth
}

func TestReadFilters(t *testing.T) {
	fw := builders.MakeFramework("big", "team").Obj()
	ok := `{"namespace":"team","name":"big","filters":[{"agentID":"n1-id","node":"n1","until":"2026-11-26T12:04:05Z"}]}`
	for _, tc := range []struct {
		name, token, body string
		status            int
		base              func(url string) string
		wantErr, wantAuth string
	}{
		{name: "through a proxy, no token", status: http.StatusOK, body: ok},
		{name: "with a token, the address with a slash", token: "tok", status: http.StatusOK, body: ok, wantAuth: "Bearer tok",
			base: func(u string) string { return u + "/" }},
		{name: "no leader", status: http.StatusServiceUnavailable, body: `{"code":503,"message":"No leader elected."}`,
			wantErr: "the master's console answered 503 Service Unavailable: No leader elected."},
		{name: "a token is asked for", status: http.StatusUnauthorized, body: `{"code":401,"message":"Send a token."}`,
			wantErr: "asks for a token (401 Unauthorized): pass --token, or the --console-url of a running kubectl mesos console"},
		{name: "a token is refused", token: "bad", status: http.StatusUnauthorized, body: `{"code":401,"message":"Send a token."}`, wantAuth: "Bearer bad",
			wantErr: "the master's console does not accept the token from --token (401 Unauthorized): Send a token."},
		{name: "not yours", token: "tok", status: http.StatusNotFound, body: `{"code":404,"message":"Not found, or not yours to read."}`, wantAuth: "Bearer tok",
			wantErr: "404 Not Found: Not found, or not yours to read. (it shows a framework to an identity that may list frameworks and tasks"},
		{name: "forbidden", token: "tok", status: http.StatusForbidden, body: `{"code":403,"message":"You may not."}`, wantAuth: "Bearer tok",
			wantErr: "the master's console answered 403 Forbidden: You may not."},
		{name: "not a console", status: http.StatusOK, body: `<html></html>`, wantErr: "is not the master console's: decoding it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, auth := fakeFrameworkConsole(t, tc.status, tc.body)
			base := srv.URL
			if tc.base != nil {
				base = tc.base(base)
			}
			got, err := readFilters(context.Background(), base, tc.token, "--token", fw)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error = %v, want one containing %q", err, tc.wantErr)
				}
			} else if err != nil || len(got) != 1 || got[0].Node != "n1" {
				t.Errorf("readFilters = %+v, %v", got, err)
			}
			if len(*auth) != 1 || (*auth)[0] != tc.wantAuth {
				t.Errorf("Authorization sent = %q, want one %q", *auth, tc.wantAuth)
			}
		})
	}
	if _, err := readFilters(context.Background(), "http://127.0.0.1:1", "", "", fw); err == nil || !strings.Contains(err.Error(), "the master's console did not answer at http://127.0.0.1:1") {
		t.Errorf("a closed port = %v", err)
	}
}
