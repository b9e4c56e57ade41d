// Package restricted builds the security settings of the pods that
// kubemesos creates for tenants: executor, command-task and scheduler pods.
// They run tenant code on shared nodes, so they meet Pod Security's
// "restricted" level whatever their image says, and are admitted in any
// namespace.
package restricted

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// User is the user and group that tenant containers run as: not root, and
// the same as the kubemesos image's own user.
const User = 65532

// PodSecurityContext is the pod-level part: a non-root user and group and
// the container runtime's default seccomp profile.
func PodSecurityContext() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To[int64](User),
		RunAsGroup:     ptr.To[int64](User),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// ContainerSecurityContext is the container-level part: no privilege
// escalation and no capabilities.
func ContainerSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}
