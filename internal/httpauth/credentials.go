package httpauth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// MaxAuthorizationBytes bounds the Authorization header that is parsed; a
// longer one is refused without being decoded. Kubernetes tokens are a few
// kilobytes at most.
const MaxAuthorizationBytes = 16 << 10

// Scheme names how a caller sent its token.
type Scheme string

// The schemes a caller may use, and the one of a caller without credentials.
const (
	// SchemeBearer is `Authorization: Bearer <token>`.
	SchemeBearer Scheme = "Bearer"
	// SchemeBasic is `Authorization: Basic base64(principal:token)`.
	SchemeBasic Scheme = "Basic"
	// SchemeAnonymous marks a caller that sent no credentials and was let
	// in by the anonymous opt-in.
	SchemeAnonymous Scheme = "Anonymous"
	// SchemeCookie is a token a web page's login put into a cookie
	// (AuthenticateToken).
	SchemeCookie Scheme = "Cookie"
)

// Credentials are what a request's Authorization header holds.
type Credentials struct {
	// Scheme is SchemeBearer or SchemeBasic.
	Scheme Scheme
	// Principal is the user name of Basic auth; empty for Bearer.
	Principal string
	// Token is the bearer token, or the password of Basic auth.
	Token string
}

// ErrNoCredentials is returned by ParseAuthorization for an empty header.
var ErrNoCredentials = errors.New("no credentials")

// ParseAuthorization parses the value of an Authorization header. An empty
// value gives ErrNoCredentials; a value that is not a well-formed Bearer or
// Basic credential gives another error, which says what is wrong without
// repeating the secret.
func ParseAuthorization(header string) (Credentials, error) {
	if header == "" {
		return Credentials{}, ErrNoCredentials
	}
	if len(header) > MaxAuthorizationBytes {
		return Credentials{}, fmt.Errorf("the Authorization header is longer than %d bytes", MaxAuthorizationBytes)
	}
	scheme, rest, ok := strings.Cut(header, " ")
	if !ok {
		return Credentials{}, errors.New("the Authorization header is not `<scheme> <credentials>`")
	}
	rest = strings.TrimLeft(rest, " ")
	switch {
	case strings.EqualFold(scheme, string(SchemeBearer)):
		if err := checkToken(rest); err != nil {
			return Credentials{}, err
		}
		return Credentials{Scheme: SchemeBearer, Token: rest}, nil
	case strings.EqualFold(scheme, string(SchemeBasic)):
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return Credentials{}, errors.New("the Basic credentials are not valid base64")
		}
		// Split at the last colon: a Kubernetes user name has colons
		// (system:serviceaccount:ns:name), a token never has.
		i := strings.LastIndexByte(string(raw), ':')
		if i < 0 {
			return Credentials{}, errors.New("the Basic credentials are not `<principal>:<secret>`")
		}
		principal, token := string(raw[:i]), string(raw[i+1:])
		if err := checkToken(token); err != nil {
			return Credentials{}, err
		}
		return Credentials{Scheme: SchemeBasic, Principal: principal, Token: token}, nil
	default:
		return Credentials{}, fmt.Errorf("the Authorization scheme %q is not supported: use Bearer or Basic", Truncate(scheme, 32))
	}
}

// checkToken refuses a token that cannot be one: empty, or with spaces or
// control characters, which no Kubernetes token has.
func checkToken(token string) error {
	if token == "" {
		return errors.New("the token is empty")
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c == 0x7f {
			return errors.New("the token holds a space or a control character")
		}
	}
	return nil
}

// Truncate shortens s, a value quoted in a message to a caller, to at most
// n bytes and a whole UTF-8 character, marking the cut with "…".
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
