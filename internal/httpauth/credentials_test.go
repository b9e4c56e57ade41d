package httpauth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func basic(principal, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(principal+":"+secret))
}

func TestParseAuthorization(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		want         Credentials
		wantErr      string
	}{
		{name: "bearer", header: "Bearer abc.def", want: Credentials{Scheme: SchemeBearer, Token: "abc.def"}},
		{name: "bearer in lower case", header: "bearer abc", want: Credentials{Scheme: SchemeBearer, Token: "abc"}},
		{name: "bearer with two spaces", header: "Bearer  abc", want: Credentials{Scheme: SchemeBearer, Token: "abc"}},
		{name: "basic", header: basic("system:serviceaccount:a:fw", "tok"), want: Credentials{Scheme: SchemeBasic, Principal: "system:serviceaccount:a:fw", Token: "tok"}},
		{name: "basic, empty principal", header: basic("", "tok"), want: Credentials{Scheme: SchemeBasic, Token: "tok"}},
		{name: "basic, colons in the principal", header: "Basic " + base64.StdEncoding.EncodeToString([]byte("p:q:tok")), want: Credentials{Scheme: SchemeBasic, Principal: "p:q", Token: "tok"}},
		{name: "empty", header: "", wantErr: "no credentials"},
		{name: "scheme only", header: "Bearer", wantErr: "is not `<scheme> <credentials>`"},
		{name: "empty bearer token", header: "Bearer ", wantErr: "the token is empty"},
		{name: "bearer token with a space", header: "Bearer a b", wantErr: "space or a control character"},
		{name: "bearer token with a tab", header: "Bearer a\tb", wantErr: "space or a control character"},
		{name: "unknown scheme", header: "Digest x", wantErr: `the Authorization scheme "Digest" is not supported`},
		{name: "basic, not base64", header: "Basic !!!", wantErr: "not valid base64"},
		{name: "basic, no colon", header: "Basic " + base64.StdEncoding.EncodeToString([]byte("tok")), wantErr: "not `<principal>:<secret>`"},
		{name: "basic, empty secret", header: basic("p", ""), wantErr: "the token is empty"},
		{name: "too long", header: "Bearer " + strings.Repeat("a", MaxAuthorizationBytes), wantErr: "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAuthorization(tc.header)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseAuthorization(%q) = %+v, %v; want an error with %q", tc.header, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseAuthorization(%q) = %+v, %v; want %+v", tc.header, got, err, tc.want)
			}
		})
	}
}

// FuzzParseAuthorization checks that no header crashes the parser, that
// exactly one of credentials and error comes back, and that accepted
// credentials are well-formed.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"", "Bearer abc", "bearer abc", "Bearer ", "Bearer a b", basic("p", "t"), basic("", "t"),
		"Basic " + base64.StdEncoding.EncodeToString([]byte("secret-no-colon")), "Basic ###", "Digest x", "\x00\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		c, err := ParseAuthorization(header)
		if err != nil {
			if c != (Credentials{}) {
				t.Fatalf("credentials %+v and an error %v", c, err)
			}
			if header == "" && !errors.Is(err, ErrNoCredentials) {
				t.Fatalf("an empty header gave %v", err)
			}
			return
		}
		if c.Scheme != SchemeBearer && c.Scheme != SchemeBasic {
			t.Fatalf("scheme %q", c.Scheme)
		}
		if checkToken(c.Token) != nil {
			t.Fatalf("accepted a malformed token %q", c.Token)
		}
		if c.Scheme == SchemeBearer && c.Principal != "" {
			t.Fatalf("a Bearer principal %q", c.Principal)
		}
		if c.Scheme == SchemeBasic && strings.Contains(c.Token, ":") {
			t.Fatalf("a Basic token with a colon %q", c.Token)
		}
	})
}
