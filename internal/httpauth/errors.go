package httpauth

import (
	"errors"
	"fmt"
	"net/http"
)

// UnauthorizedError says that a request's credentials are missing or not
// accepted: 401.
type UnauthorizedError struct {
	// Reason is for people; it never holds the token.
	Reason string
	// InvalidToken is set when credentials were sent but refused, so that
	// the Bearer challenge says error="invalid_token" (RFC 6750).
	InvalidToken bool
}

// Error implements error.
func (e *UnauthorizedError) Error() string { return "unauthorized: " + e.Reason }

// ForbiddenError says that an authenticated caller may not do what it asked:
// 403.
type ForbiddenError struct {
	// User is the caller's user name.
	User string
	// Attributes is what was refused.
	Attributes Attributes
	// Reason is the authorizer's, or why the request was refused without
	// asking it; it may be empty.
	Reason string
}

// Error implements error.
func (e *ForbiddenError) Error() string {
	msg := fmt.Sprintf("%s may not %s", e.User, e.Attributes)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// UnavailableError says that the API server could not review a request
// (unreachable, timed out, overloaded): 503, so that the client retries.
type UnavailableError struct {
	// Review is "TokenReview" or "SubjectAccessReview".
	Review string
	// Err is the client's error.
	Err error
}

// Error implements error.
func (e *UnavailableError) Error() string {
	return fmt.Sprintf("the Kubernetes API server could not answer a %s: %v", e.Review, e.Err)
}

// Unwrap returns the client's error.
func (e *UnavailableError) Unwrap() error { return e.Err }

// ThrottledError says that the caller's address sent more tokens new to
// the cache than it may have reviewed: 503 with Retry-After, to be
// retried in a second.
type ThrottledError struct{}

// Error implements error.
func (e *ThrottledError) Error() string {
	return "too many new tokens from this address to review; try again in a second"
}

// StatusCode returns the HTTP status code for an error of this package: 401,
// 403 or 503; any other error is 500.
func StatusCode(err error) int {
	var unauthorized *UnauthorizedError
	var forbidden *ForbiddenError
	var unavailable *UnavailableError
	var throttled *ThrottledError
	switch {
	case errors.As(err, &throttled):
		return http.StatusServiceUnavailable
	case errors.As(err, &unauthorized):
		return http.StatusUnauthorized
	case errors.As(err, &forbidden):
		return http.StatusForbidden
	case errors.As(err, &unavailable):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// WriteError answers a request that failed authentication or authorization:
// the status code of StatusCode, a WWW-Authenticate challenge with a 401, and
// the error as a text body.
func (a *Auth) WriteError(w http.ResponseWriter, err error) {
	code := StatusCode(err)
	var unauthorized *UnauthorizedError
	if errors.As(err, &unauthorized) {
		w.Header().Set("WWW-Authenticate", a.challenge(unauthorized.InvalidToken))
	}
	var throttled *ThrottledError
	if errors.As(err, &throttled) {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = fmt.Fprintf(w, "%d %s. %s\n", code, http.StatusText(code), message(err))
}

// message is what the caller is told: why it was refused, but nothing of
// the API server's address or of its errors, which are logged instead.
func message(err error) string {
	var unauthorized *UnauthorizedError
	var forbidden *ForbiddenError
	var unavailable *UnavailableError
	var throttled *ThrottledError
	switch {
	case errors.As(err, &throttled):
		return "Too many new tokens from this address to review; try again in a second."
	case errors.As(err, &unauthorized):
		return unauthorized.Reason
	case errors.As(err, &forbidden):
		return forbidden.Error()
	case errors.As(err, &unavailable):
		return fmt.Sprintf("The Kubernetes API server could not answer a %s; try again.", unavailable.Review)
	default:
		return "The request could not be authenticated or authorized."
	}
}

// challenge is the WWW-Authenticate value of a 401: one challenge per scheme
// in one header, joined by a comma, as Mesos's combined authenticator
// writes them.
func (a *Auth) challenge(invalidToken bool) string {
	bearer := fmt.Sprintf("Bearer realm=%q", a.realm)
	if invalidToken {
		bearer += `, error="invalid_token"`
	}
	return fmt.Sprintf("Basic realm=%q,%s", a.realm, bearer)
}
