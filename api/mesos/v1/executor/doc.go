// Package executorv1 holds the Go types of the Mesos v1 executor HTTP API
// (protobuf package mesos.v1.executor): Call, which an executor sends to its
// agent, and Event, which the agent streams back. The code is generated from
// executor.proto by `make generate`.
package executorv1
