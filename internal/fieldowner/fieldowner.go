// Package fieldowner names the writers of kubemesos objects. Every write a
// component makes carries its writer's name as the field manager, so an
// object's managedFields tell which part of kubemesos set each field, and
// the tests hold each field to the writers named here.
package fieldowner

import "sigs.k8s.io/controller-runtime/pkg/client"

// The writers. Each is one concern of one component; a field of a status
// belongs to one of them (docs/architecture.md lists which).
const (
	// Admission stages, refuses or drops new Tasks (the master).
	Admission = "kubemesos-admission"
	// Registry keeps Agents' phases and conditions and marks the tasks of
	// unreachable agents (the master).
	Registry = "kubemesos-registry"
	// Allocator creates and removes Offers and writes Agents' allocated
	// and offered resources (the master).
	Allocator = "kubemesos-allocator"
	// Frameworks runs the Framework lifecycle: registration, phase,
	// scheduler pod and teardown (the master).
	Frameworks = "kubemesos-frameworks"
	// Agent writes its own Agent and Lease, executor pods and the status
	// updates of the tasks on its node.
	Agent = "kubemesos-agent"
	// Scheduler is the scheduler SDK: Tasks, declines, kills and a
	// framework's completion.
	Scheduler = "kubemesos-scheduler"
)

// Client returns c with every write made as owner.
func Client(c client.Client, owner string) client.Client { return client.WithFieldOwner(c, owner) }
