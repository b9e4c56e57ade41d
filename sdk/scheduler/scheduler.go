// Package scheduler is the kubemesos framework SDK for schedulers: the Go
// form of the Mesos Java Scheduler and SchedulerDriver APIs.
//
// A framework implements Scheduler. The Driver registers it by claiming (or
// creating) its Framework object, holds the Lease
// kubemesos-scheduler-<framework> so that one instance is active at a time,
// and calls the Scheduler's callbacks one at a time from informer events:
// offers, task status updates, lost agents, messages. A second instance
// waits as a standby and takes over when the active one stops renewing the
// Lease; it learns the state of every task through StatusUpdate.
//
// Callbacks block one another, as in Mesos: do long work in a goroutine.
package scheduler

import (
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
)

// TaskStatus is a task's status as the scheduler sees it.
type TaskStatus struct {
	TaskID     string
	State      kmv1.TaskState
	Reason     kmv1.TaskReason
	Source     kmv1.TaskSource
	Message    string
	Data       string
	AgentID    string
	ExecutorID string
	Healthy    *bool
}

// Scheduler is what a framework implements. The driver calls one method at
// a time.
type Scheduler interface {
	// Registered is called when this instance becomes the framework's
	// active scheduler, with the frameworkID the master assigned.
	Registered(d SchedulerDriver, frameworkID string)
	// Reregistered is called when this instance becomes active again
	// after it had lost its Lease.
	Reregistered(d SchedulerDriver)
	// ResourceOffers delivers new offers. Accept them with LaunchTasks or
	// decline them with DeclineOffer.
	ResourceOffers(d SchedulerDriver, offers []kmv1.Offer)
	// OfferRescinded says an offer is no longer valid.
	OfferRescinded(d SchedulerDriver, offerID string)
	// StatusUpdate delivers a task's new state.
	StatusUpdate(d SchedulerDriver, status TaskStatus)
	// FrameworkMessage delivers a message from an executor.
	FrameworkMessage(d SchedulerDriver, executorID, agentID, data string)
	// Disconnected is called when this instance lost its Lease.
	Disconnected(d SchedulerDriver)
	// AgentLost says an agent became Unreachable or Gone; its tasks are
	// TASK_LOST.
	AgentLost(d SchedulerDriver, agentID string)
	// ExecutorLost says an executor ended; status is non-zero on failure.
	ExecutorLost(d SchedulerDriver, executorID, agentID string, status int)
	// Error reports an unrecoverable driver error; the driver stops.
	Error(d SchedulerDriver, message string)
}

// Filters tune a decline.
type Filters struct {
	// RefuseSeconds is how long the declined agent is not offered to this
	// framework again; the Framework's spec.offerFilters.refuseSeconds when nil.
	RefuseSeconds *int32
}

// TaskInfo describes a task to launch.
type TaskInfo struct {
	// TaskID becomes the Task's name.
	TaskID string
	// Resources are what the task takes from its offers.
	Resources kmv1.ResourceList
	// Exactly one of Command or Executor.
	Command  *kmv1.CommandInfo
	Executor *kmv1.ExecutorInfo
	// Data is handed to the executor with the task.
	Data string
	// KillGracePeriodSeconds bounds a kill.
	KillGracePeriodSeconds *int64
	// Labels are added to the Task.
	Labels map[string]string
}

// SchedulerDriver is what a Scheduler calls, as in Mesos. Only the active
// instance acts for the framework: its calls, from LaunchTasks to Fail,
// return ErrNotActive from a standby, an instance that lost its Lease, or a
// stopped driver, and write nothing.
type SchedulerDriver interface {
	// Start starts the driver: it claims the Framework and campaigns for
	// the scheduler Lease.
	Start() error
	// Stop stops the driver and releases the Lease. Without failover the
	// active instance is done with the framework: the master marks it
	// Completed and kills its tasks; a standby only stops. With failover
	// its tasks keep running for failoverTimeoutSeconds, waiting for
	// another instance.
	Stop(failover bool) error
	// Abort stops the driver at once, as a crash would: the Lease is not
	// released.
	Abort() error
	// Join waits until the driver stops and returns why.
	Join() error
	// Run is Start then Join.
	Run() error
	// LaunchTasks launches tasks on offers (one agent); with no tasks it
	// declines the offers. A task ID that exists on other offers is
	// refused for that task.
	LaunchTasks(offerIDs []string, tasks []TaskInfo) error
	// DeclineOffer declines an offer.
	DeclineOffer(offerID string, filters *Filters) error
	// KillTask asks for a task to be killed.
	KillTask(taskID string) error
	// ReviveOffers clears suppression so offers flow again.
	ReviveOffers() error
	// SuppressOffers stops offers until ReviveOffers.
	SuppressOffers() error
	// ReconcileTasks asks for the current state of the tasks (all of the
	// framework's when none are named), delivered through StatusUpdate
	// with REASON_RECONCILIATION; a task named that does not exist is
	// TASK_LOST. It may be called from a callback.
	ReconcileTasks(taskIDs []string) error
	// SendFrameworkMessage sends data to an executor on an agent.
	SendFrameworkMessage(executorID, agentID, data string) error
	// Complete completes the framework with a result (status.result); the
	// master marks it Completed and kills what still runs.
	Complete(result string) error
	// Fail ends the framework as Failed with a message for its users.
	Fail(message string) error
	// Framework returns the Framework object as last seen.
	Framework() *kmv1.Framework
}
