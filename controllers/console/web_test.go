package console_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/kubemesos/kubemesos/controllers/console"
)

// checkWeb checks the web pages of the console at addr: the page, its
// script and its style sheet are served without a token (they hold no
// data) under the console's Content-Security-Policy; anything else under
// /static/ is 404; GET /api/v1/whoami names the viewer of token and says
// that a viewer by header has no session to end.
func checkWeb(t *testing.T, name, addr, token, user string) {
	t.Helper()
	for path, want := range map[string]struct{ typ, body string }{
		"/":                {"text/html", `src="static/app.js"`},
		"/static/app.js":   {"javascript", "/api/v1/events"},
		"/static/app.css":  {"text/css", ".badge"},
		"/static/app.js?x": {"javascript", "EventSource"},
	} {
		code, h, body := get(t, addr, path, "")
		if code != http.StatusOK || !strings.Contains(h.Get("Content-Type"), want.typ) || !strings.Contains(body, want.body) {
			t.Errorf("%s: GET %s: %d %q; want 200, %s holding %q", name, path, code, h.Get("Content-Type"), want.typ, want.body)
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: GET %s: Content-Security-Policy %q", name, path, csp)
		}
	}
	for _, path := range []string{"/static/", "/static/nope.js", "/index.html/x", "/web/app.js"} {
		if code, _, _ := get(t, addr, path, ""); code != http.StatusNotFound && code != http.StatusMovedPermanently {
			t.Errorf("%s: GET %s: %d; want 404", name, path, code)
		}
	}
	code, _, body := get(t, addr, "/api/v1/whoami", token)
	var me console.WhoAmI
	if err := json.Unmarshal([]byte(body), &me); err != nil || code != http.StatusOK || !strings.HasSuffix(me.User, ":"+user) || me.Session {
		t.Errorf("%s: whoami: %d %s; want %s without a session", name, code, body, user)
	}
	if code, _, _ := get(t, addr, "/api/v1/whoami", ""); code != http.StatusUnauthorized {
		t.Errorf("%s: whoami without a token: %d; want 401", name, code)
	}
}
