// Package console is the master's read-only web console: a JSON API under
// /api/v1/ (overview, frameworks, agents, tasks, roles) served by every
// master replica on --console-bind-address.
//
// # Where the data comes from
//
// Only from the leading master's memory: its last allocation cycle
// (controllers.Master.LastCycle: the scheduling cache's snapshot, the
// allocator's input with every framework's allocation and the role
// weights), its decline filters, and the Tasks of its informer cache
// (slimmed: controllers.StripTaskPayloads). No request reads the API
// server, but for the reviews below and a task's log. A model of a cycle
// is built at most once per cycle and per second, when a viewer asks,
// and shared read only by every request; requests filter and page it. A
// bounded ring keeps the allocation totals of the last HistoryLength
// cycles.
//
// # Who sees what
//
// A viewer sends a Kubernetes token (`Authorization: Bearer`, or the
// cookie that POST /login sets for the web pages), checked by
// TokenReview; what it may read is checked by SubjectAccessReview, as the
// viewer (internal/httpauth, which keeps the answers briefly per user):
//
//   - a namespace's frameworks, tasks and offers: list on frameworks and
//     tasks (kubemesos.io) in that namespace, or in every namespace;
//   - the agents, which are cluster scoped: list on agents.
//   - a task's log (/api/v1/tasks/{namespace}/{name}/log): get on
//     pods/log for its pod, besides reading its namespace; the master
//     reads the log through the API server for the viewer, bounded in
//     lines and bytes.
//
// Every aggregate is computed from what the viewer may read: task and
// framework counts, the DRF order (ranks among the viewer's frameworks),
// role shares, an agent's tasks by framework and the allocation history.
// A framework or task the viewer may not read answers 404, as one that
// does not exist. The console changes nothing: it has no endpoint that
// writes.
//
// # Live updates
//
// GET /api/v1/events is a stream of Server-Sent Events: the viewer's
// overview at once, and again after each cycle in which it changed. The
// leader hands each new model, at most once a second, to every follower
// without waiting: one that has not taken the last is dropped, so a slow
// viewer never holds up a cycle. The token and the viewer's rights are
// checked again at each model.
//
// # Standbys
//
// A standby passes every request, unread, to the leader's console, whose
// address the leader carries in its Lease identity
// (mesosapi.WithConsole); so `kubectl port-forward svc/kubemesos-console`
// works whichever replica it reaches. A request already passed on once is
// answered 503 by a master that does not lead, so a stale Lease never
// makes a loop.
package console
