// Package controllers holds the kubemesos master: the reconcilers that keep
// the registry (Agent, Framework and Task status) and the allocator loop that
// turns agent capacity into Offers.
package controllers

// The master's permissions. controller-gen turns these markers into
// config/rbac/master/role.yaml, which the chart's ClusterRole mirrors.
//
// +kubebuilder:rbac:groups=kubemesos.io,resources=frameworks;tasks;agents,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=kubemesos.io,resources=frameworks/status;tasks/status;agents/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=kubemesos.io,resources=frameworks/finalizers,verbs=update
// +kubebuilder:rbac:groups=kubemesos.io,resources=offers,verbs=get;list;watch;create;delete;deletecollection
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
//
// The Mesos scheduler HTTP API asks the API server who calls and what the
// caller may do (internal/httpauth).
//
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
