package mesosapi

import (
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
)

// validateCall checks a decoded call as Mesos's
// validation::scheduler::call::validate does, returning the message that
// follows "Failed to validate scheduler::Call: ", or "" when it is valid.
// Required fields were checked when the call was decoded.
func validateCall(c *schedulerv1.Call) string {
	if c.Type == nil {
		return "Expecting 'type' to be present"
	}
	if c.GetType() == schedulerv1.Call_SUBSCRIBE {
		if c.Subscribe == nil {
			return "Expecting 'subscribe' to be present"
		}
		if !proto.Equal(c.GetSubscribe().GetFrameworkInfo().GetId(), c.GetFrameworkId()) {
			return "'framework_id' differs from 'subscribe.framework_info.id'"
		}
		return ""
	}
	if c.FrameworkId == nil {
		return "Expecting 'framework_id' to be present"
	}
	missing := func(present bool, field string) string {
		if present {
			return ""
		}
		return "Expecting '" + field + "' to be present"
	}
	switch c.GetType() {
	case schedulerv1.Call_ACCEPT:
		return missing(c.Accept != nil, "accept")
	case schedulerv1.Call_DECLINE:
		return missing(c.Decline != nil, "decline")
	case schedulerv1.Call_ACCEPT_INVERSE_OFFERS:
		return missing(c.AcceptInverseOffers != nil, "accept_inverse_offers")
	case schedulerv1.Call_DECLINE_INVERSE_OFFERS:
		return missing(c.DeclineInverseOffers != nil, "decline_inverse_offers")
	case schedulerv1.Call_KILL:
		return missing(c.Kill != nil, "kill")
	case schedulerv1.Call_SHUTDOWN:
		return missing(c.Shutdown != nil, "shutdown")
	case schedulerv1.Call_ACKNOWLEDGE:
		if c.Acknowledge == nil {
			return missing(false, "acknowledge")
		}
		return validUUID(c.GetAcknowledge().GetUuid())
	case schedulerv1.Call_ACKNOWLEDGE_OPERATION_STATUS:
		a := c.GetAcknowledgeOperationStatus()
		if a == nil {
			return missing(false, "acknowledge_operation_status")
		}
		if msg := validUUID(a.GetUuid()); msg != "" {
			return msg
		}
		return missing(a.AgentId != nil, "agent_id")
	case schedulerv1.Call_RECONCILE:
		return missing(c.Reconcile != nil, "reconcile")
	case schedulerv1.Call_RECONCILE_OPERATIONS:
		return missing(c.ReconcileOperations != nil, "reconcile_operations")
	case schedulerv1.Call_MESSAGE:
		return missing(c.Message != nil, "message")
	case schedulerv1.Call_REQUEST:
		return missing(c.Request != nil, "request")
	case schedulerv1.Call_UPDATE_FRAMEWORK:
		if c.UpdateFramework == nil {
			return missing(false, "update_framework")
		}
		if !proto.Equal(c.GetFrameworkId(), c.GetUpdateFramework().GetFrameworkInfo().GetId()) {
			return "'framework_id' differs from 'update_framework.framework_info.id'"
		}
	}
	return ""
}

// validUUID checks an acknowledgement's uuid as Mesos does: 16 bytes of
// a UUID with a known version.
func validUUID(b []byte) string {
	u, err := uuid.FromBytes(b)
	if err != nil || u.Version() < 1 || u.Version() > 5 {
		return "Not a valid UUID"
	}
	return ""
}
