// Package invariants checks a fault campaign's record (test/chaos/record)
// against what kubemesos promises whatever fails: the registry invariants
// of Mesos moved onto Kubernetes. It reads the record after the run and
// judges it whole, from every change the watches saw and every write the
// API server's audit log holds, not from samples taken while the run went
// on.
//
// Check is pure: the same record gives the same Report. Each invariant is
// one function of its own file, and each counts what it checked, so that a
// run can say "checked X, 0 violations" and mean it.
//
// # Order
//
// The API server's resourceVersions are etcd revisions: one counter for
// every object of the cluster, raised by every write and kept across API
// server restarts (etcd keeps it). So they order a Task's change against an
// Agent's or the Lease's, which the times at which the recorder saw them
// cannot do exactly: a watch delivers late, and after a restart of the API
// server it delivers a burst. Kubernetes calls resourceVersions opaque;
// the clusters kubemesos runs on keep them in etcd, where they are
// integers. When any object entry of a record has a resourceVersion that
// is not an unsigned integer, the checker orders every entry by the time
// the recorder saw it (At) instead, which is coarser; Report.OrderedBy says
// which order was used.
package invariants
