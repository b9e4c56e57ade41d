// Package schedulerv1 holds the Go types of the Mesos v1 scheduler HTTP API
// (protobuf package mesos.v1.scheduler): Call, which a scheduler sends to the
// master, and Event, which the master streams back. The code is generated
// from scheduler.proto by `make generate`.
package schedulerv1
