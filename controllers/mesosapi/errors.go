package mesosapi

import (
	"errors"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// httpError is an answer other than success, written as Mesos writes it.
type httpError = mesoswire.Error

func badRequest(msg string) *httpError { return mesoswire.BadRequest(msg) }

func forbidden(msg string) *httpError { return mesoswire.Forbidden(msg) }

// failed is the answer to a call the master could not carry out (the API
// server unreachable or slow, a read that failed): 503, the one failure
// Mesos's scheduler library takes calmly (it logs and drops the call; a
// framework subscribes again on its own timer, and learns a launch's fate
// by reconciling), where a 500 would be an ERROR its frameworks abort on
// (src/scheduler/scheduler.cpp).
func failed(msg string) *httpError {
	return &httpError{Code: http.StatusServiceUnavailable, Msg: msg}
}

// noLongerLeads is the answer to a call whose write met the fence on a
// master that lost the master Lease (fencedMaster): 503, and the
// scheduler finds the leader and subscribes there.
func noLongerLeads() *httpError {
	return &httpError{Code: http.StatusServiceUnavailable, Msg: "This master no longer leads: subscribe to the leader"}
}

// apiServerVerdict is the API server's refusal of a write the master made
// for a caller, as the caller hears it: 400 for what the object cannot be
// (a schema or a policy's validation), 403 for what the caller may not do
// (RBAC, a quota, a policy's Forbidden), with the API server's message.
// It is 0 when err is no verdict on the write (nil, an outage, a conflict,
// a timeout, or this master fenced by masterLeaderPolicy): the caller
// should send the call again, answered 5xx.
func apiServerVerdict(err error) (int, string) {
	var status apierrors.APIStatus
	if err == nil || !errors.As(err, &status) || fencedMaster(err) {
		return 0, ""
	}
	msg := status.Status().Message
	switch {
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsRequestEntityTooLargeError(err):
		return http.StatusBadRequest, msg
	case apierrors.IsForbidden(err):
		return http.StatusForbidden, msg
	}
	return 0, ""
}

// verdictOn is apiServerVerdict's code alone.
func verdictOn(err error) int {
	code, _ := apiServerVerdict(err)
	return code
}

// fencedMaster reports whether err is masterLeaderPolicy's refusal: this
// master acted as the leader after it lost the master Lease.
func fencedMaster(err error) bool {
	var status apierrors.APIStatus
	return err != nil && errors.As(err, &status) && apierrors.IsForbidden(err) &&
		strings.Contains(status.Status().Message, "ValidatingAdmissionPolicy '"+masterLeaderPolicy+"'")
}

// writeFailed is the answer to a call whose write err failed: the API
// server's verdict on it (apiServerVerdict), 503 when this master no
// longer leads, else failed's 503; what says what was written.
func writeFailed(err error, what string) *httpError {
	if code, msg := apiServerVerdict(err); code != 0 {
		return &httpError{Code: code, Msg: "The API server refused " + what + ": " + msg}
	}
	if fencedMaster(err) {
		return noLongerLeads()
	}
	return failed("Failed to write " + what + ": " + err.Error())
}
