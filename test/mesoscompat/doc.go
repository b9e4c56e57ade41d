// Package mesoscompat holds the conformance tests of the Mesos v1 wire types
// in api/mesos/v1 against mesos-go, a Mesos client library not written here:
// its copies of the Mesos .proto files are compiled and compared with ours
// field by field, and events are encoded by one side and decoded by the
// other. It is a module of its own so that mesos-go never reaches the main
// module's dependencies; `make test-mesoscompat` runs it.
package mesoscompat
