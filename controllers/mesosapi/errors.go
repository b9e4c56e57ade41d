package mesosapi

import (
	"net/http"
)

// httpError is an answer other than success: a status code and the
// plain-text message Mesos gives with it.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return http.StatusText(e.code) + ": " + e.msg }

func badRequest(msg string) *httpError { return &httpError{http.StatusBadRequest, msg} }

func forbidden(msg string) *httpError { return &httpError{http.StatusForbidden, msg} }

// write sends the error as Mesos does: the status and the message as a
// text/plain body.
func (e *httpError) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.code)
	_, _ = w.Write([]byte(e.msg))
}
