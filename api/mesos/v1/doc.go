// Package mesosv1 holds the Go types of the Mesos v1 wire format (protobuf
// package mesos.v1): the IDs, FrameworkInfo, Offer, Resource, TaskInfo,
// TaskStatus and the rest that the scheduler and executor HTTP APIs carry.
// The code is generated from mesos.proto by `make generate`; see README.md
// beside it for what is left out.
package mesosv1
