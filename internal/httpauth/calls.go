package httpauth

import (
	"fmt"
	"strings"
)

// Group is the API group of the kubemesos objects.
const Group = "kubemesos.io"

// Attributes is one permission a request needs, in the terms of a
// SubjectAccessReview.
type Attributes struct {
	// Verb is the Kubernetes verb: get, list, create, update, patch, delete.
	Verb string
	// Group is the API group, "" for the core group.
	Group string
	// Resource is the plural resource name, for example "frameworks".
	Resource string
	// Subresource is, for example, "status"; usually empty.
	Subresource string
	// Namespace is where the request acts; empty for a cluster-scoped
	// resource.
	Namespace string
	// Name is the object acted on; empty for any or a new one.
	Name string
}

// String says what is asked, the way RBAC is written: `create
// frameworks.kubemesos.io "mc" in namespace "a"`.
func (a Attributes) String() string {
	var b strings.Builder
	b.WriteString(a.Verb)
	b.WriteString(" ")
	b.WriteString(a.Resource)
	if a.Group != "" {
		b.WriteString("." + a.Group)
	}
	if a.Subresource != "" {
		b.WriteString("/" + a.Subresource)
	}
	if a.Name != "" {
		fmt.Fprintf(&b, " %q", a.Name)
	}
	if a.Namespace != "" {
		fmt.Fprintf(&b, " in namespace %q", a.Namespace)
	} else {
		b.WriteString(" at cluster scope")
	}
	return b.String()
}

// The permissions the scheduler calls are checked for. Each is the change a
// framework would make to the kubemesos objects with kubectl to do the same
// thing, so that one Role lets a framework do both:
var (
	createFrameworks = Attributes{Verb: "create", Group: Group, Resource: "frameworks"}
	updateFrameworks = Attributes{Verb: "update", Group: Group, Resource: "frameworks"}
	patchFrameworks  = Attributes{Verb: "patch", Group: Group, Resource: "frameworks"}
	deleteFrameworks = Attributes{Verb: "delete", Group: Group, Resource: "frameworks"}
	createTasks      = Attributes{Verb: "create", Group: Group, Resource: "tasks"}
	patchTasks       = Attributes{Verb: "patch", Group: Group, Resource: "tasks"}
	listTasks        = Attributes{Verb: "list", Group: Group, Resource: "tasks"}
	deleteOffers     = Attributes{Verb: "delete", Group: Group, Resource: "offers"}
	createEvents     = Attributes{Verb: "create", Group: "events.k8s.io", Resource: "events"}
)

// SchedulerCalls maps each call of the Mesos v1 scheduler HTTP API, by the
// name of its Call.Type, to the permissions it needs in the framework's
// namespace. A caller must hold all of them. The rule: a call needs what a
// framework driving the CRDs with kubectl would need to do the same.
//
//   - SUBSCRIBE creates the Framework, or adopts and updates it on a
//     re-subscription: create and update frameworks.
//   - TEARDOWN deletes the Framework: delete frameworks.
//   - ACCEPT launches Tasks on offers: create tasks.
//   - DECLINE gives offers back, as deleting an Offer does: delete offers.
//   - REVIVE, SUPPRESS, UPDATE_FRAMEWORK, REQUEST and the inverse offer
//     calls change the framework's own offer state: patch frameworks.
//   - KILL, SHUTDOWN (of an executor, with its tasks) and ACKNOWLEDGE (the
//     acknowledged update is recorded on its Task) change Tasks: patch
//     tasks.
//   - RECONCILE and RECONCILE_OPERATIONS read the framework's Tasks: list
//     tasks.
//   - MESSAGE sends a framework message, which travels as an Event in the
//     namespace, as the Go SDK sends it: create events.events.k8s.io.
//
// A call that is not in the table is refused (403). The table is read-only.
var SchedulerCalls = map[string][]Attributes{
	"SUBSCRIBE":                    {createFrameworks, updateFrameworks},
	"TEARDOWN":                     {deleteFrameworks},
	"ACCEPT":                       {createTasks},
	"DECLINE":                      {deleteOffers},
	"REVIVE":                       {patchFrameworks},
	"SUPPRESS":                     {patchFrameworks},
	"UPDATE_FRAMEWORK":             {patchFrameworks},
	"REQUEST":                      {patchFrameworks},
	"ACCEPT_INVERSE_OFFERS":        {patchFrameworks},
	"DECLINE_INVERSE_OFFERS":       {patchFrameworks},
	"KILL":                         {patchTasks},
	"SHUTDOWN":                     {patchTasks},
	"ACKNOWLEDGE":                  {patchTasks},
	"ACKNOWLEDGE_OPERATION_STATUS": {patchTasks},
	"RECONCILE":                    {listTasks},
	"RECONCILE_OPERATIONS":         {listTasks},
	"MESSAGE":                      {createEvents},
}
