// Package executor is the kubemesos framework SDK for executors: the Go
// form of the Mesos Java Executor and ExecutorDriver APIs, speaking the
// agent's executor API (agent/executorapi).
//
// An executor pod implements Executor and runs a Driver, which reads its
// settings from the environment the agent set (KUBEMESOS_AGENT_ENDPOINT,
// KUBEMESOS_EXECUTOR_TOKEN_FILE, ...). The driver reads the token file again
// for every call, since the kubelet renews the token in it. As in Mesos, callbacks block one another:
// LaunchTask must return quickly, so do the task's work in a goroutine and
// report it with SendStatusUpdate. The driver reconnects when the agent
// restarts and resends the updates the agent has not acknowledged.
package executor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/stopper"
)

// Info describes the executor's place, from SUBSCRIBED.
type Info struct {
	AgentID, Namespace, Framework, ExecutorID string
}

// TaskStatus is a status update for one task.
type TaskStatus struct {
	TaskID  string
	State   kmv1.TaskState
	Reason  kmv1.TaskReason
	Message string
	Data    string
	Healthy *bool
}

// Executor is what an executor implements. The driver calls one method at
// a time.
type Executor interface {
	// Registered is called once the executor subscribed to its agent.
	Registered(d ExecutorDriver, info Info)
	// Reregistered is called after it subscribed again, for example to a
	// restarted agent.
	Reregistered(d ExecutorDriver, info Info)
	// Disconnected is called when the stream to the agent broke; the driver
	// reconnects.
	Disconnected(d ExecutorDriver)
	// LaunchTask starts a task. Return quickly: run it in a goroutine.
	LaunchTask(d ExecutorDriver, task executorapi.TaskInfo)
	// KillTask asks for a task to be killed; answer with TASK_KILLED.
	KillTask(d ExecutorDriver, taskID string)
	// FrameworkMessage delivers a message from the scheduler.
	FrameworkMessage(d ExecutorDriver, data string)
	// Shutdown asks the executor to end all its tasks; the driver stops.
	Shutdown(d ExecutorDriver)
	// Error reports an error from the agent: a refused subscription, or an
	// update or message that the agent refused after it had been held
	// back behind another.
	Error(d ExecutorDriver, message string)
}

// ExecutorDriver is what an Executor calls, as in Mesos.
type ExecutorDriver interface {
	Start() error
	Stop() error
	Abort() error
	Join() error
	Run() error
	SendStatusUpdate(s TaskStatus) error
	SendFrameworkMessage(data string) error
}

// Config is where the executor is and who it is.
type Config struct {
	// Endpoint is the agent's executor API, host:port.
	Endpoint string
	// TokenFile holds the executor's token (in a pod, the service account
	// token that the agent has the kubelet mount). It is read for every
	// call.
	TokenFile string
	// Namespace, Framework and ExecutorID name the executor.
	Namespace, Framework, ExecutorID string
	// HTTPClient defaults to one without a timeout (the event stream is
	// long-lived).
	HTTPClient *http.Client
	Log        logr.Logger
}

// ConfigFromEnv reads the settings that the agent gives every executor pod.
func ConfigFromEnv() (Config, error) { return ConfigFrom(os.Getenv) }

// ConfigFrom reads the executor's settings through get, for example from a
// pod's environment.
func ConfigFrom(get func(string) string) (Config, error) {
	c := Config{Endpoint: get(executorapi.EnvAgentEndpoint), TokenFile: get(executorapi.EnvTokenFile),
		Namespace: get(executorapi.EnvNamespace), Framework: get(executorapi.EnvFramework), ExecutorID: get(executorapi.EnvExecutorID)}
	var missing []string
	for name, v := range map[string]string{executorapi.EnvAgentEndpoint: c.Endpoint, executorapi.EnvTokenFile: c.TokenFile,
		executorapi.EnvNamespace: c.Namespace, executorapi.EnvFramework: c.Framework, executorapi.EnvExecutorID: c.ExecutorID} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("not running as a kubemesos executor: %s not set (the agent sets them on executor pods)", strings.Join(missing, ", "))
	}
	return c, nil
}

// Driver is the ExecutorDriver.
type Driver struct {
	exec Executor
	cfg  Config

	ctx    context.Context
	cancel context.CancelFunc
	stop   *stopper.Stopper

	mu         sync.Mutex
	registered bool
	tasks      map[string]bool    // launched and not yet finished and acknowledged
	unacked    map[string]unacked // by uuid
	seq        uint64             // orders unacked
	msgs       messageState

	// outMu orders the UPDATE calls: it is held while one is sent, and
	// guards backlog, the updates that wait to be sent again (the agent
	// was busy, away or failing), oldest first. While any wait, a new
	// update waits behind them, so that the agent takes each task's
	// updates in the order they were sent, as a Mesos executor's are.
	outMu    sync.Mutex
	backlog  []executorapi.TaskStatus
	draining bool // a goroutine sends the backlog

	// cbMu makes the callbacks one at a time: those of the event stream
	// and Error from the goroutines that send in the background.
	cbMu sync.Mutex
}

var _ ExecutorDriver = (*Driver)(nil)

// unacked is an update that the agent has not acknowledged yet.
type unacked struct {
	status executorapi.TaskStatus
	seq    uint64 // the order it was sent in
}

// maxConnsToAgent bounds the default client's connections to the agent,
// the event stream included; the agent takes a few calls of one executor
// at a time and answers more with 429.
const maxConnsToAgent = 6

// NewDriver returns a driver for exec.
func NewDriver(exec Executor, cfg Config) *Driver {
	if cfg.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxConnsPerHost = maxConnsToAgent
		cfg.HTTPClient = &http.Client{Transport: t}
	}
	if cfg.Log.GetSink() == nil {
		cfg.Log = logr.Discard()
	}
	return &Driver{exec: exec, cfg: cfg, stop: stopper.New(), tasks: map[string]bool{}, unacked: map[string]unacked{}, msgs: newMessageState()}
}

func (d *Driver) post(ctx context.Context, c executorapi.Call) (*http.Response, error) {
	c.Namespace, c.Framework, c.ExecutorID = d.cfg.Namespace, d.cfg.Framework, d.cfg.ExecutorID
	body, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	// The kubelet renews the token in its file: read the current one.
	token, err := os.ReadFile(d.cfg.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("reading the executor token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+d.cfg.Endpoint+executorapi.Path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Content-Type", executorapi.MediaType)
	return d.cfg.HTTPClient.Do(req)
}

// Start connects to the agent in the background.
func (d *Driver) Start() error {
	d.ctx, d.cancel = context.WithCancel(context.Background())
	go d.loop()
	go d.sendMessages()
	go d.acknowledgeMessages()
	return nil
}

// loop subscribes, runs the event stream, and reconnects until stopped.
func (d *Driver) loop() {
	backoff := 200 * time.Millisecond
	for d.ctx.Err() == nil {
		connected, err := d.session()
		if d.ctx.Err() != nil {
			return
		}
		if connected {
			d.callback(func() { d.exec.Disconnected(d) })
			backoff = 200 * time.Millisecond
		}
		d.cfg.Log.V(1).Info("executor stream ended; reconnecting", "error", fmt.Sprint(err), "in", backoff)
		select {
		case <-d.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// subscribeCall is what the executor tells the agent on subscribing: the
// tasks it runs and its unacknowledged updates, oldest first, as many as
// one call may carry (executorapi.MaxUnacknowledgedTasks,
// MaxUnacknowledgedUpdates and MaxCallBytes). rest are the updates left
// out, to be sent as UPDATE calls once subscribed.
func (d *Driver) subscribeCall() (sub *executorapi.Subscribe, rest []executorapi.TaskStatus) {
	d.mu.Lock()
	sub = &executorapi.Subscribe{}
	for id := range d.tasks {
		sub.UnacknowledgedTasks = append(sub.UnacknowledgedTasks, id)
	}
	pending := make([]unacked, 0, len(d.unacked))
	for _, u := range d.unacked {
		pending = append(pending, u)
	}
	d.mu.Unlock()
	sort.Strings(sub.UnacknowledgedTasks)
	if len(sub.UnacknowledgedTasks) > executorapi.MaxUnacknowledgedTasks {
		// A task left out is at worst launched again, which is ignored.
		sub.UnacknowledgedTasks = sub.UnacknowledgedTasks[:executorapi.MaxUnacknowledgedTasks]
	}
	sort.Slice(pending, func(i, j int) bool { return pending[i].seq < pending[j].seq })
	head, _ := json.Marshal(executorapi.Call{Type: executorapi.CallSubscribe, Namespace: d.cfg.Namespace, Framework: d.cfg.Framework,
		ExecutorID: d.cfg.ExecutorID, Subscribe: sub})
	size := len(head) + len(`,"unacknowledged_updates":[]`)
	for _, u := range pending {
		b, _ := json.Marshal(u.status)
		if len(rest) > 0 || len(sub.UnacknowledgedUpdates) == executorapi.MaxUnacknowledgedUpdates || size+len(b)+1 > executorapi.MaxCallBytes {
			rest = append(rest, u.status)
			continue
		}
		size += len(b) + 1
		sub.UnacknowledgedUpdates = append(sub.UnacknowledgedUpdates, u.status)
	}
	return sub, rest
}

// session runs one subscription; it reports whether it got SUBSCRIBED.
func (d *Driver) session() (bool, error) {
	sub, rest := d.subscribeCall()
	resp, err := d.post(d.ctx, executorapi.Call{Type: executorapi.CallSubscribe, Subscribe: sub})
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusBadRequest {
			d.callback(func() {
				d.exec.Error(d, fmt.Sprintf("the agent refused SUBSCRIBE: %s: %s", resp.Status, strings.TrimSpace(string(msg))))
			})
		}
		return false, fmt.Errorf("SUBSCRIBE: %s", resp.Status)
	}
	rr := executorapi.NewRecordReader(resp.Body)
	connected := false
	for {
		var ev executorapi.Event
		if err := rr.Read(&ev); err != nil {
			return connected, err
		}
		switch ev.Type {
		case executorapi.EventSubscribed:
			connected = true
			info := Info{Namespace: d.cfg.Namespace, Framework: d.cfg.Framework, ExecutorID: d.cfg.ExecutorID}
			if ev.Subscribed != nil {
				info.AgentID = ev.Subscribed.AgentID
			}
			d.mu.Lock()
			again := d.registered
			d.registered = true
			d.mu.Unlock()
			d.callback(func() {
				if again {
					d.exec.Reregistered(d, info)
				} else {
					d.exec.Registered(d, info)
				}
			})
			// What did not fit into SUBSCRIBE, in order, one at a time.
			if len(rest) > 0 {
				go d.resend(rest)
				rest = nil
			}
		case executorapi.EventLaunch:
			if ev.Launch == nil {
				continue
			}
			d.mu.Lock()
			known := d.tasks[ev.Launch.Task.TaskID]
			d.tasks[ev.Launch.Task.TaskID] = true
			d.mu.Unlock()
			if !known {
				d.callback(func() { d.exec.LaunchTask(d, ev.Launch.Task) })
			}
		case executorapi.EventKill:
			if ev.Kill != nil {
				d.callback(func() { d.exec.KillTask(d, ev.Kill.TaskID) })
			}
		case executorapi.EventAcknowledged:
			if ev.Acknowledged != nil {
				d.acknowledged(ev.Acknowledged.UUID)
			}
		case executorapi.EventMessage:
			if ev.Message != nil {
				d.messageReceived(ev.Message)
			}
		case executorapi.EventShutdown:
			d.callback(func() { d.exec.Shutdown(d) })
			_ = d.Stop()
			return connected, nil
		case executorapi.EventError:
			if ev.Error != nil {
				d.callback(func() { d.exec.Error(d, ev.Error.Message) })
			}
		}
	}
}

func (d *Driver) acknowledged(uuid string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u, ok := d.unacked[uuid]
	if !ok {
		return
	}
	delete(d.unacked, uuid)
	if kmv1.TaskState(u.status.State).IsTerminal() {
		delete(d.tasks, u.status.TaskID)
	}
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// SendStatusUpdate sends a task status to the agent. It is kept until the
// agent acknowledges it, and resent after a reconnection. Updates reach the
// agent in the order they were sent: while an earlier one waits to be sent
// again, this one waits behind it (and a refusal comes through Error).
func (d *Driver) SendStatusUpdate(s TaskStatus) error {
	u := executorapi.TaskStatus{TaskID: s.TaskID, State: string(s.State), Reason: string(s.Reason), Message: s.Message, Data: s.Data, Healthy: s.Healthy, UUID: newUUID()}
	if err := u.Validate(); err != nil {
		return fmt.Errorf("invalid status update: %w", err)
	}
	d.mu.Lock()
	d.seq++
	d.unacked[u.UUID] = unacked{status: u, seq: d.seq}
	d.mu.Unlock()
	d.outMu.Lock()
	defer d.outMu.Unlock()
	if len(d.backlog) > 0 {
		// Earlier updates wait to be sent again: this one goes after them,
		// and a refusal is reported through Error.
		d.backlog = append(d.backlog, u)
		return nil
	}
	retry, err := d.sendUpdate(u)
	if retry {
		d.queueLocked(u)
	}
	return err
}

// resend sends again, in order and before any later update, the
// unacknowledged updates that a SUBSCRIBE could not carry.
func (d *Driver) resend(updates []executorapi.TaskStatus) {
	d.outMu.Lock()
	defer d.outMu.Unlock()
	d.mu.Lock()
	seqOf := func(u executorapi.TaskStatus) uint64 { return d.unacked[u.UUID].seq }
	queued := map[string]bool{}
	for _, u := range d.backlog {
		queued[u.UUID] = true
	}
	for _, u := range updates {
		if !queued[u.UUID] {
			d.backlog = append(d.backlog, u)
		}
	}
	sort.SliceStable(d.backlog, func(i, j int) bool { return seqOf(d.backlog[i]) < seqOf(d.backlog[j]) })
	d.mu.Unlock()
	d.startDrainLocked(0)
}

// queueLocked puts u, which the agent did not take, at the end of the
// backlog and makes sure it is sent again. outMu is held.
func (d *Driver) queueLocked(u executorapi.TaskStatus) {
	d.backlog = append(d.backlog, u)
	d.startDrainLocked(200 * time.Millisecond)
}

// startDrainLocked starts the backlog's sender, after wait, unless it runs.
// outMu is held.
func (d *Driver) startDrainLocked(wait time.Duration) {
	if !d.draining && len(d.backlog) > 0 {
		d.draining = true
		go d.drain(wait)
	}
}

// drain sends the backlog in order, the oldest first: each until the agent
// takes it, refuses it (reported through Error, and dropped) or has
// acknowledged it (a SUBSCRIBE carried it), backing off from 200 ms to 5 s
// while the agent does not take the first.
func (d *Driver) drain(wait time.Duration) {
	backoff := max(wait, 200*time.Millisecond)
	for {
		if wait > 0 {
			select {
			case <-d.ctx.Done():
				d.outMu.Lock()
				d.draining = false
				d.outMu.Unlock()
				return
			case <-time.After(wait):
			}
		}
		var refusals []error
		d.outMu.Lock()
		for len(d.backlog) > 0 && d.ctx.Err() == nil {
			u := d.backlog[0]
			d.mu.Lock()
			_, pending := d.unacked[u.UUID]
			d.mu.Unlock()
			if pending {
				retry, err := d.sendUpdate(u)
				if err != nil {
					refusals = append(refusals, err)
				}
				if retry {
					break
				}
				backoff = 200 * time.Millisecond
			}
			d.backlog[0] = executorapi.TaskStatus{}
			d.backlog = d.backlog[1:]
		}
		done := len(d.backlog) == 0 || d.ctx.Err() != nil
		if done {
			d.draining = false
		}
		d.outMu.Unlock()
		for _, err := range refusals {
			d.callback(func() { d.exec.Error(d, err.Error()) })
		}
		if done {
			return
		}
		wait, backoff = backoff, min(backoff*2, 5*time.Second)
	}
}

// callback runs one of the Executor's methods, one at a time.
func (d *Driver) callback(fn func()) {
	d.cbMu.Lock()
	defer d.cbMu.Unlock()
	fn()
}

// sendUpdate posts one update. The agent's 4xx refuses it for good (it is
// dropped, and the error says why); a 5xx, a 429 (the agent holds too many
// of this executor's updates already: slow down), a 408 (the call arrived
// too slowly) or a lost connection is not the update's fault: it is kept,
// to be sent again.
func (d *Driver) sendUpdate(u executorapi.TaskStatus) (retry bool, err error) {
	retry, refusal := d.send(executorapi.Call{Type: executorapi.CallUpdate, Update: &executorapi.UpdateCall{Status: u}})
	if refusal != "" {
		d.mu.Lock()
		delete(d.unacked, u.UUID)
		d.mu.Unlock()
		return false, fmt.Errorf("the agent refused the update of task %s: %s", u.TaskID, refusal)
	}
	return retry, nil
}

// send makes one call that the agent answers 202 when it takes it. It is
// the one rule for what an answer means: a 4xx other than 408 and 429
// refuses the call for good (refusal says the status and why); a lost
// connection while the driver runs, a 408 (the call arrived too slowly), a
// 429 (slow down) or a 5xx (the agent's own failure) means send it again.
func (d *Driver) send(c executorapi.Call) (retry bool, refusal string) {
	resp, err := d.post(d.ctx, c)
	if err != nil {
		return d.ctx.Err() == nil, ""
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusAccepted:
		return false, ""
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout:
		return true, ""
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return false, resp.Status + ": " + strings.TrimSpace(string(msg))
	default:
		return true, ""
	}
}

// Stop stops the driver.
func (d *Driver) Stop() error { return d.halt(nil) }

// Abort stops the driver at once.
func (d *Driver) Abort() error { return d.halt(errors.New("aborted")) }

// halt stops the driver; the first reason given is the one Join returns.
func (d *Driver) halt(reason error) error {
	d.stop.Stop(reason)
	if d.cancel != nil {
		d.cancel()
	}
	return nil
}

// Join waits for the driver to stop.
func (d *Driver) Join() error { return d.stop.Wait() }

// Run starts the driver and waits for it to stop.
func (d *Driver) Run() error {
	if err := d.Start(); err != nil {
		return err
	}
	return d.Join()
}
