package console

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/kubemesos/kubemesos/internal/httpauth"
)

// CookieName is the cookie that carries a viewer's token after POST
// /login, for the web pages; the API reads it when a request has no
// Authorization header.
const CookieName = "kubemesos-console-token"

// maxLoginBody bounds the form of a login: a token and little else.
const maxLoginBody = 64 << 10

// LoginAnswer is the JSON of a login that succeeded.
type LoginAnswer struct {
	// User is who the token authenticates as.
	User string `json:"user"`
}

// authenticate says who sent r: its Authorization header, or else its
// login cookie.
func (s *Server) authenticate(r *http.Request) (*httpauth.Caller, error) {
	if r.Header.Get("Authorization") == "" {
		if c, err := r.Cookie(CookieName); err == nil && c.Value != "" {
			token, ok := s.sessions.open(c.Value)
			if !ok {
				return nil, &httpauth.UnauthorizedError{Reason: "the login has ended (the master that took it no longer leads, or it was not this console's); log in again", InvalidToken: true}
			}
			return s.auth.AuthenticateToken(r.Context(), token, httpauth.SchemeCookie)
		}
	}
	return s.auth.Authenticate(r)
}

// sealer seals a viewer's token into the login cookie. Browsers send a
// cookie to every port of its host, so a cookie set through a port-forward
// on 127.0.0.1 reaches any other local web server the browser visits: the
// cookie holds the token encrypted (AES-256-GCM) under a key that only
// this master's memory holds, made at its start, so that it is of no use
// to anyone but this console. A new leader cannot open it: its viewers
// log in again.
type sealer struct{ aead cipher.AEAD }

// newSealer makes a sealer with a fresh random key.
func newSealer() (*sealer, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("making the login cookie's key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("making the login cookie's cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("making the login cookie's cipher: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// seal returns the cookie value of token.
func (s *sealer) seal(token string) string {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, []byte(token), []byte(CookieName)))
}

// open returns the token that value seals, false when it seals none
// under this key.
func (s *sealer) open(value string) (string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	n := s.aead.NonceSize()
	if err != nil || len(raw) < n {
		return "", false
	}
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(CookieName))
	if err != nil {
		return "", false
	}
	return string(plain), true
}

// SameOrigin reports whether r, a request that changes something, comes
// from a page of the console itself: a browser says so in Sec-Fetch-Site,
// or else by an Origin whose host is the request's. A cookie goes with
// every request to its site, whoever makes it; this is what keeps another
// site's page from logging a viewer in or out.
func SameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin"
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return false
	}
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Host == r.Host
}

// login answers POST /login: it checks the form's token by TokenReview
// and keeps it in an HttpOnly, SameSite=Strict cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !SameOrigin(r) {
		writeError(w, http.StatusForbidden, "A login must come from the console's own page (same origin).")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "Send the token as the form field `token`.")
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		writeError(w, http.StatusBadRequest, "Send the token as the form field `token`.")
		return
	}
	caller, err := s.auth.AuthenticateToken(r.Context(), token, httpauth.SchemeCookie)
	if err != nil {
		s.writeAuthError(w, err)
		return
	}
	http.SetCookie(w, sessionCookie(r, s.sessions.seal(token), 0))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(LoginAnswer{User: caller.User.GetName()})
}

// logout answers POST /logout: it clears the cookie.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if !SameOrigin(r) {
		writeError(w, http.StatusForbidden, "A logout must come from the console's own page (same origin).")
		return
	}
	http.SetCookie(w, sessionCookie(r, "", -1))
	w.WriteHeader(http.StatusNoContent)
}

// sessionCookie is the login cookie holding value (a sealed token);
// maxAge -1 clears it. It lasts as long as the browser session, and never
// beyond the token, which the API server stops accepting when it expires.
func sessionCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: CookieName, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil}
}
