package mesosapi

import "github.com/kubemesos/kubemesos/internal/mesoswire"

// httpError is an answer other than success, written as Mesos writes it.
type httpError = mesoswire.Error

func badRequest(msg string) *httpError { return mesoswire.BadRequest(msg) }

func forbidden(msg string) *httpError { return mesoswire.Forbidden(msg) }
