package console

import (
	"strings"
	"testing"
)

// TestSealer: a sealed token opens under its own key only, never shows in
// the cookie, and any change to the value is refused.
func TestSealer(t *testing.T) {
	a, err := newSealer()
	if err != nil {
		t.Fatal(err)
	}
	b, err := newSealer()
	if err != nil {
		t.Fatal(err)
	}
	const token = "eyJhbGciOiJSUzI1NiJ9.secret-part.signature"
	v := a.seal(token)
	if strings.Contains(v, "secret-part") || strings.Contains(v, token) {
		t.Fatalf("the cookie value shows the token: %s", v)
	}
	if got, ok := a.open(v); !ok || got != token {
		t.Fatalf("open(seal(token)) = %q, %v", got, ok)
	}
	if v2 := a.seal(token); v2 == v {
		t.Error("two seals of one token are equal: the nonce is not fresh")
	}
	if _, ok := b.open(v); ok {
		t.Error("another master's key opens the cookie")
	}
	flipped := []byte(v)
	flipped[len(flipped)/2] ^= 1
	for _, bad := range []string{"", "x", string(flipped), v[:len(v)-2], token, "%%%"} {
		if got, ok := a.open(bad); ok {
			t.Errorf("open(%q) = %q, true; want refused", bad, got)
		}
	}
}
