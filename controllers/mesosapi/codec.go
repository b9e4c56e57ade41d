package mesosapi

import (
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// decodeCall reads a scheduler Call from body in c's form.
func decodeCall(c mesoswire.Codec, body []byte) (*schedulerv1.Call, *httpError) {
	call := &schedulerv1.Call{}
	if herr := c.DecodeCall(body, call); herr != nil {
		return nil, herr
	}
	return call, nil
}
