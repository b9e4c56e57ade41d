package console_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kubemesos/kubemesos/controllers/console"
)

// post sends a form to a console with headers, and returns the answer,
// its body read.
func post(t *testing.T, addr, path string, form url.Values, headers map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp, b.String()
}

// getCookie sends GET path with only cookie c to a console.
func getCookie(t *testing.T, addr, path string, c *http.Cookie) (int, string) {
	t.Helper()
	code, _, body := getWith(t, addr, path, func(req *http.Request) { req.AddCookie(c) })
	return code, body
}

// checkLogin logs in at addr with token through the form, and checks the
// cookie, its use by the API, the same-origin rule and the logout.
func checkLogin(t *testing.T, name, addr, token, want, notWant string) {
	t.Helper()
	same := map[string]string{"Origin": "http://" + addr}
	for what, h := range map[string]map[string]string{
		"no origin":          nil,
		"another origin":     {"Origin": "http://evil.example"},
		"a cross-site fetch": {"Sec-Fetch-Site": "cross-site", "Origin": "http://" + addr},
	} {
		if resp, body := post(t, addr, "/login", url.Values{"token": {token}}, h); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
			t.Errorf("%s: a login with %s: %d %s, cookies %v; want 403 and none", name, what, resp.StatusCode, body, resp.Cookies())
		}
	}
	if resp, _ := post(t, addr, "/login", url.Values{"token": {"not-a-token"}}, same); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("%s: a login with a bad token: %d; want 401", name, resp.StatusCode)
	}
	resp, body := post(t, addr, "/login", url.Values{"token": {token}}, map[string]string{"Sec-Fetch-Site": "same-origin"})
	var c *http.Cookie
	for _, rc := range resp.Cookies() {
		if rc.Name == console.CookieName {
			c = rc
		}
	}
	if resp.StatusCode != http.StatusOK || c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure || !strings.Contains(body, `"user"`) {
		t.Fatalf("%s: login: %d %s, cookie %+v", name, resp.StatusCode, body, c)
	}
	if strings.Contains(c.Value, token) || strings.Contains(c.Value, strings.Split(token, ".")[1]) {
		t.Errorf("%s: the login cookie holds the token itself", name)
	}
	if code, _ := getCookie(t, addr, "/api/v1/frameworks", &http.Cookie{Name: console.CookieName, Value: token}); code != http.StatusUnauthorized {
		t.Errorf("%s: a cookie holding a bare token: %d; want 401", name, code)
	}
	if code, body := getCookie(t, addr, "/api/v1/frameworks", c); code != http.StatusOK || !strings.Contains(body, want) || (notWant != "" && strings.Contains(body, notWant)) {
		t.Errorf("%s: frameworks by the cookie: %d %s", name, code, body)
	}
	if code, body := getCookie(t, addr, "/api/v1/whoami", c); code != http.StatusOK || !strings.Contains(body, `"session":true`) {
		t.Errorf("%s: whoami by the cookie: %d %s; want a session", name, code, body)
	}
	resp, _ = post(t, addr, "/logout", nil, same)
	cleared := false
	for _, rc := range resp.Cookies() {
		cleared = cleared || (rc.Name == console.CookieName && rc.MaxAge < 0 && rc.Value == "")
	}
	if resp.StatusCode != http.StatusNoContent || !cleared {
		t.Errorf("%s: logout: %d, cookies %v; want 204 and the cookie cleared", name, resp.StatusCode, resp.Cookies())
	}
	if resp, _ := post(t, addr, "/logout", nil, map[string]string{"Origin": "http://evil.example"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("%s: a cross-origin logout: %d; want 403", name, resp.StatusCode)
	}
}

// TestSameOrigin checks the rule for requests that change something.
func TestSameOrigin(t *testing.T) {
	for _, c := range []struct {
		host    string
		headers map[string]string
		want    bool
	}{
		{"console:5080", map[string]string{"Sec-Fetch-Site": "same-origin"}, true},
		{"console:5080", map[string]string{"Origin": "http://console:5080"}, true},
		{"console:5080", map[string]string{"Origin": "https://console:5080"}, true},
		{"console:5080", nil, false},
		{"console:5080", map[string]string{"Origin": "null"}, false},
		{"console:5080", map[string]string{"Origin": "http://console:5081"}, false},
		{"console:5080", map[string]string{"Origin": "http://console:5080.evil"}, false},
		{"console:5080", map[string]string{"Origin": "javascript://console:5080"}, false},
		{"console:5080", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://console:5080"}, false},
		{"console:5080", map[string]string{"Sec-Fetch-Site": "none"}, false},
	} {
		r := &http.Request{Host: c.host, Header: http.Header{}}
		for k, v := range c.headers {
			r.Header.Set(k, v)
		}
		if got := console.SameOrigin(r); got != c.want {
			t.Errorf("SameOrigin(host %q, %v) = %v", c.host, c.headers, got)
		}
	}
}

// FuzzSameOrigin checks that a request is same-origin only as the rule
// says.
func FuzzSameOrigin(f *testing.F) {
	f.Add("console:5080", "", "http://console:5080")
	f.Add("console:5080", "same-origin", "")
	f.Add("a", "cross-site", "http://a")
	f.Fuzz(func(t *testing.T, host, site, origin string) {
		r := &http.Request{Host: host, Header: http.Header{}}
		if site != "" {
			r.Header["Sec-Fetch-Site"] = []string{site}
		}
		if origin != "" {
			r.Header["Origin"] = []string{origin}
		}
		if !console.SameOrigin(r) {
			return
		}
		if site != "" && site != "same-origin" {
			t.Fatalf("Sec-Fetch-Site %q passed", site)
		}
		if site == "" {
			u, err := url.Parse(origin)
			if err != nil || u.Host != host || host == "" {
				t.Fatalf("Origin %q passed for host %q", origin, host)
			}
		}
	})
}
