// Command mesos-go-executor is the custom executor of the e2e test's Mesos
// framework (test/e2e/mesosframework/scenario.js): a Mesos executor built on
// mesos-go's executor library, as a Mesos user would write one, with
// nothing of kubemesos in it. It reads its configuration from the MESOS_*
// environment, subscribes to its agent (protobuf), and for each task it is
// launched with sends TASK_RUNNING, a framework message "hello from
// <task>", and TASK_FINISHED with the task's data reversed; it exits on
// SHUTDOWN. It sends its updates again, subscribing anew, until the agent
// acknowledges them.
package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"net/url"
	"os"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"
)

func main() {
	cfg, err := config.FromEnv()
	if err != nil {
		log.Fatalf("reading the executor's environment: %v", err)
	}
	log.Printf("executor %s of framework %s, agent %s, sandbox %s", cfg.ExecutorID, cfg.FrameworkID, cfg.AgentEndpoint, cfg.Sandbox)
	opts := []httpcli.Opt{
		httpcli.Endpoint((&url.URL{Scheme: "http", Host: cfg.AgentEndpoint, Path: "/api/v1/executor"}).String()),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
		httpcli.Do(httpcli.With(httpcli.Timeout(10 * time.Second))),
	}
	if token := os.Getenv("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"); token != "" {
		opts = append(opts, httpcli.DefaultHeader("Authorization", "Bearer "+token))
	}
	cli := httpcli.New(opts...)
	callOpts := executor.CallOptions{calls.Framework(cfg.FrameworkID), calls.Executor(cfg.ExecutorID)}
	e := &exec{
		sender:     calls.SenderWith(httpexec.NewSender(cli.Send), callOpts...),
		subscriber: calls.SenderWith(httpexec.NewSender(cli.Send, httpcli.Close(true)), callOpts...),
		unacked:    map[string]executor.Call_Update{},
		tasks:      map[string]mesos.TaskInfo{},
	}
	deadline := time.Now().Add(cfg.RecoveryTimeout)
	for time.Now().Before(deadline) {
		if err := e.run(context.Background()); err != nil {
			log.Printf("subscription ended: %v", err)
		}
		if e.shutdown {
			log.Print("shut down by the agent")
			return
		}
		time.Sleep(cfg.SubscriptionBackoffMax / 2)
	}
	log.Fatalf("no subscription within %s", cfg.RecoveryTimeout)
}

type exec struct {
	sender, subscriber calls.Sender
	// unacked are the updates sent and not yet acknowledged, by uuid;
	// tasks the tasks launched and not yet finished.
	unacked  map[string]executor.Call_Update
	tasks    map[string]mesos.TaskInfo
	shutdown bool
}

// run subscribes, with what is not acknowledged yet, and handles events
// until the stream ends.
func (e *exec) run(ctx context.Context) error {
	var tasks []mesos.TaskInfo
	for _, t := range e.tasks {
		tasks = append(tasks, t)
	}
	var updates []executor.Call_Update
	for _, u := range e.unacked {
		updates = append(updates, u)
	}
	resp, err := e.subscriber.Send(ctx, calls.NonStreaming(calls.Subscribe(tasks, updates)))
	if err != nil {
		return fmt.Errorf("SUBSCRIBE: %w", err)
	}
	defer resp.Close()
	for {
		var ev executor.Event
		if err := resp.Decode(&ev); err != nil {
			return err
		}
		switch ev.Type {
		case executor.Event_SUBSCRIBED:
			log.Printf("subscribed on agent %s", ev.Subscribed.AgentInfo.GetID().GetValue())
		case executor.Event_LAUNCH:
			t := ev.Launch.Task
			e.tasks[t.TaskID.Value] = t
			e.runTask(ctx, t)
		case executor.Event_KILL:
			e.update(ctx, ev.Kill.TaskID, mesos.TASK_KILLED, nil)
		case executor.Event_ACKNOWLEDGED:
			delete(e.unacked, string(ev.Acknowledged.UUID))
		case executor.Event_MESSAGE:
			log.Printf("message from the scheduler: %q", ev.Message.Data)
		case executor.Event_SHUTDOWN:
			e.shutdown = true
			return nil
		case executor.Event_ERROR:
			log.Printf("error from the agent: %s", ev.Error.Message)
		}
	}
}

// runTask runs a task: RUNNING, a message to the scheduler, FINISHED.
func (e *exec) runTask(ctx context.Context, t mesos.TaskInfo) {
	e.update(ctx, t.TaskID, mesos.TASK_RUNNING, nil)
	if resp, err := e.sender.Send(ctx, calls.NonStreaming(calls.Message([]byte("hello from "+t.TaskID.Value)))); err != nil {
		log.Printf("MESSAGE: %v", err)
	} else if resp != nil {
		resp.Close()
	}
	data := []byte(t.Data)
	for i, j := 0, len(data)-1; i < j; i, j = i+1, j-1 {
		data[i], data[j] = data[j], data[i]
	}
	e.update(ctx, t.TaskID, mesos.TASK_FINISHED, data)
	delete(e.tasks, t.TaskID.Value)
}

// update sends a status; it stays unacknowledged, and is sent again on the
// next subscription, until the agent acknowledges it.
func (e *exec) update(ctx context.Context, id mesos.TaskID, state mesos.TaskState, data []byte) {
	uuid := make([]byte, 16)
	_, _ = rand.Read(uuid)
	uuid[6], uuid[8] = uuid[6]&0x0f|0x40, uuid[8]&0x3f|0x80
	u := executor.Call_Update{Status: mesos.TaskStatus{TaskID: id, State: state.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum(), UUID: uuid, Data: data}}
	e.unacked[string(uuid)] = u
	resp, err := e.sender.Send(ctx, calls.NonStreaming(calls.Update(u.Status)))
	if err != nil {
		log.Printf("UPDATE %s %s: %v (sent again on the next subscription)", id.Value, state, err)
		return
	}
	if resp != nil {
		resp.Close()
	}
}
