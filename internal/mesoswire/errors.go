package mesoswire

import "net/http"

// Error is an answer other than success: a status code and the plain-text
// message Mesos gives with it.
type Error struct {
	// Code is the HTTP status.
	Code int
	// Msg is the body.
	Msg string
}

func (e *Error) Error() string { return http.StatusText(e.Code) + ": " + e.Msg }

// BadRequest is a 400 with msg.
func BadRequest(msg string) *Error { return &Error{http.StatusBadRequest, msg} }

// Forbidden is a 403 with msg.
func Forbidden(msg string) *Error { return &Error{http.StatusForbidden, msg} }

// Write sends the error as Mesos does: the status and the message as a
// text/plain body.
func (e *Error) Write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Code)
	_, _ = w.Write([]byte(e.Msg))
}
