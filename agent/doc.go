// Package agent holds the kubemesos agent: the DaemonSet process that
// registers its node as an Agent, renews its heartbeat Lease, launches
// executor pods for the tasks placed on it and carries status updates back
// into the registry.
package agent

// The agent's permissions. controller-gen turns these markers into
// config/rbac/agent/role.yaml, which the chart mirrors: a ClusterRole, and a
// Role for the heartbeat Leases in the release namespace (the namespace
// below stands for it). What the agent may write is held to its own node
// by the chart's ValidatingAdmissionPolicy kubemesos-agent-node.
//
// +kubebuilder:rbac:groups=kubemesos.io,resources=agents,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=kubemesos.io,resources=tasks,verbs=get;list;watch
// +kubebuilder:rbac:groups=kubemesos.io,resources=tasks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=kubemesos.io,resources=frameworks,verbs=get;list;watch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch,namespace=kubemesos-system
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch;get;list;watch;delete
//
// Events only through events.k8s.io (agent.NewRecorder, the framework
// messages): the core API would let it set an Event's source to another
// component or node.
//
// Executors authenticate with service account tokens bound to their pods;
// the agent has the API server verify them.
//
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
