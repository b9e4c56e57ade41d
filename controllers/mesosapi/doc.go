// Package mesosapi serves the Apache Mesos v1 scheduler HTTP API
// (POST /api/v1/scheduler) on every master replica, so that frameworks
// written against Mesos run on kubemesos unchanged. Calls become what a
// kubemesos framework does through the custom resources: a subscription
// creates or adopts a Framework and holds its scheduler Lease while the
// event stream is open; the stream carries the events Mesos sends.
//
// Status codes, headers and messages follow src/master/http.cpp
// (Master::Http::scheduler) and src/master/validation.cpp of Apache Mesos:
//
//   - A standby answers 307 with a Location on the leading master's
//     endpoint, or 503 "No leader elected" when no leader is known. The
//     leader's address is read from the holder identity of the master's
//     Lease (see AdvertisedIdentity).
//   - 405 for a method other than POST, with Allow: POST.
//   - 400 "Expecting 'Content-Type' to be present"; 415 for a Content-Type
//     other than application/json and application/x-protobuf; 413 for a
//     body over the limit; 400 for a body that does not parse or validate.
//   - 406 when a SUBSCRIBE's Accept allows neither type.
//   - SUBSCRIBE: 200, a Mesos-Stream-Id header and a chunked RecordIO
//     stream of events in the negotiated type; every other call 202.
//   - MESSAGE: 400 when its data cannot travel as a kubemesos framework
//     message (UTF-8 text of at most 1024 bytes), which Mesos does not
//     refuse; 202 and dropped for an unknown agent, as in Mesos.
//
// Who calls is told by internal/httpauth (a Kubernetes token checked by
// TokenReview, or the anonymous ServiceAccount of an explicit opt-in); in
// which namespace the call acts is decided in one place
// (Server.authenticate): the ServiceAccount's own. Each call is then
// authorized by SubjectAccessReview as httpauth's table says. A standby
// redirects before it authenticates.
package mesosapi

// The scheduler API's permissions beyond the master's own: it creates the
// Frameworks of new subscriptions and the Tasks that ACCEPT launches, and
// records a DECLINE's filter on its Offer (patch); it
// watches the Events that carry messages from executors to schedulers (its
// cache selects them by label) and deletes those it wrote to a stream.
//
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=list;watch;delete
// +kubebuilder:rbac:groups=kubemesos.io,resources=frameworks;tasks,verbs=create
// +kubebuilder:rbac:groups=kubemesos.io,resources=offers,verbs=patch
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
