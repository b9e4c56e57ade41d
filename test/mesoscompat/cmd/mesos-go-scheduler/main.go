// Command mesos-go-scheduler is a Mesos framework on mesos-go's scheduler
// library, as a Mesos user would write one, with nothing of kubemesos in
// it: the e2e test's framework for a master failover in the middle of a run
// (test/e2e/mesos_framework_test.go). It subscribes to the master at -master
// (following the library's redirects to the leader, and sending its calls
// to the master that SUBSCRIBED names), launches -tasks
// command tasks that sleep -sleep seconds, one each, acknowledges every
// update, subscribes again with its framework ID whenever its connection
// ends, and tears the framework down once every task has finished. A task
// the master refuses because its offer was rescinded before the ACCEPT
// reached it (TASK_LOST or TASK_DROPPED, REASON_INVALID_OFFERS) was never
// launched, and is launched again on a later offer, as a Mesos framework
// must. Each step is printed as one line, "SCENARIO <json>".
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/backoff"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/callrules"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/controller"
	"github.com/mesos/mesos-go/api/v1/lib/extras/store"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/events"
)

func report(event string, fields map[string]any) {
	if fields == nil {
		fields = map[string]any{}
	}
	fields["event"] = event
	b, _ := json.Marshal(fields)
	fmt.Printf("SCENARIO %s\n", b)
}

// framework is what the framework knows: the tasks it launched and their
// latest states.
type framework struct {
	mu       sync.Mutex
	total    int
	sleep    int
	launched int
	// again holds the tasks to launch again: the master refused their
	// offers.
	again  []string
	states map[string]mesos.TaskState
	done   bool
}

func main() {
	master := flag.String("master", "", "the URL of a master's scheduler API, http://<ip>:5050/api/v1/scheduler")
	name := flag.String("name", "e2e-mesos-go", "the framework's name")
	tasks := flag.Int("tasks", 3, "how many tasks to launch")
	sleep := flag.Int("sleep", 30, "how long each task sleeps, in seconds")
	timeout := flag.Duration("timeout", 4*time.Minute, "how long the run may take")
	flag.Parse()
	if *master == "" {
		log.Fatal("-master is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	fw := &framework{total: *tasks, sleep: *sleep, states: map[string]mesos.TaskState{}}
	fid := store.NewInMemorySingleton()
	hc := httpcli.New(
		httpcli.Endpoint(*master),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
		httpcli.Do(httpcli.With(httpcli.Timeout(10*time.Second))),
	)
	cli := callrules.New(callrules.WithFrameworkID(store.GetIgnoreErrors(fid))).Caller(httpsched.NewCaller(hc))
	info := &mesos.FrameworkInfo{User: "nobody", Name: *name, FailoverTimeout: proto(300.0), Checkpoint: proto(true)}
	handler := events.Handlers{
		scheduler.Event_SUBSCRIBED: controller.TrackSubscription(fid, 300*time.Second).AndThen().HandleF(func(_ context.Context, e *scheduler.Event) error {
			// mesos-go follows a redirect for SUBSCRIBE only; the calls
			// that follow go to the client's endpoint. So the framework
			// detects the leader as Mesos frameworks do, from the
			// master_info of SUBSCRIBED, and sends its calls there.
			mi := e.GetSubscribed().GetMasterInfo()
			leader := *master
			if mi != nil && mi.GetHostname() != "" {
				leader = (&url.URL{Scheme: "http", Host: net.JoinHostPort(mi.GetHostname(), strconv.Itoa(int(mi.GetPort()))), Path: "/api/v1/scheduler"}).String()
				hc.With(httpcli.Endpoint(leader))
			}
			report("subscribed", map[string]any{"frameworkId": e.GetSubscribed().GetFrameworkID().GetValue(), "master": leader})
			return nil
		}),
		scheduler.Event_OFFERS: events.HandlerFunc(func(ctx context.Context, e *scheduler.Event) error {
			return fw.offers(ctx, cli, e.GetOffers().GetOffers())
		}),
		scheduler.Event_RESCIND: events.HandlerFunc(func(_ context.Context, e *scheduler.Event) error {
			report("rescind", map[string]any{"offer": e.GetRescind().OfferID.Value})
			return nil
		}),
		scheduler.Event_UPDATE: controller.AckStatusUpdates(cli).AndThen().HandleF(func(ctx context.Context, e *scheduler.Event) error {
			return fw.update(ctx, cli, e.GetUpdate().GetStatus(), cancel)
		}),
	}
	err := controller.Run(ctx, info, cli,
		controller.WithEventHandler(handler),
		controller.WithFrameworkID(store.GetIgnoreErrors(fid)),
		controller.WithRegistrationTokens(backoff.Notifier(500*time.Millisecond, 3*time.Second, ctx.Done())),
		controller.WithSubscriptionTerminated(func(err error) {
			msg := "the connection ended"
			if err != nil {
				msg = err.Error()
			}
			report("disconnected", map[string]any{"message": msg})
		}),
	)
	fw.mu.Lock()
	done := fw.done
	fw.mu.Unlock()
	if !done {
		report("timeout", map[string]any{"error": fmt.Sprint(err)})
		os.Exit(1)
	}
	report("done", nil)
}

func proto[T any](v T) *T { return &v }

// offers launches the tasks not launched yet (those to launch again
// first), one an offer, and declines the rest.
func (fw *framework) offers(ctx context.Context, cli calls.Caller, offers []mesos.Offer) error {
	for _, o := range offers {
		fw.mu.Lock()
		var id string
		switch {
		case len(fw.again) > 0:
			id, fw.again = fw.again[0], fw.again[1:]
		case fw.launched < fw.total:
			fw.launched++
			id = fmt.Sprintf("task-%d", fw.launched)
		}
		launch := id != ""
		fw.mu.Unlock()
		if !launch {
			if err := calls.CallNoData(ctx, cli, calls.Decline(o.ID).With(calls.RefuseSeconds(time.Second))); err != nil {
				log.Printf("DECLINE: %v", err)
			}
			continue
		}
		task := mesos.TaskInfo{
			Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID,
			Resources: []mesos.Resource{scalar("cpus", 0.1), scalar("mem", 32)},
			Command:   &mesos.CommandInfo{Value: proto(fmt.Sprintf("sleep %d", fw.sleep))},
		}
		report("launch", map[string]any{"task": id, "agent": o.AgentID.Value, "offer": o.ID.Value})
		accept := calls.Accept(calls.OfferOperations{calls.OpLaunch(task)}.WithOffers(o.ID))
		if err := calls.CallNoData(ctx, cli, accept); err != nil {
			log.Printf("ACCEPT: %v", err)
		}
	}
	return nil
}

func scalar(name string, v float64) mesos.Resource {
	return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
}

// update records a task's state; once every task has finished, the
// framework is torn down and the run ends.
func (fw *framework) update(ctx context.Context, cli calls.Caller, st mesos.TaskStatus, stop func()) error {
	report("update", map[string]any{"task": st.TaskID.Value, "state": st.GetState().String(), "source": st.GetSource().String(),
		"reason": st.GetReason().String(), "uuid": len(st.UUID) > 0, "message": st.GetMessage()})
	fw.mu.Lock()
	fw.states[st.TaskID.Value] = st.GetState()
	if refused(st) {
		fw.again = append(fw.again, st.TaskID.Value)
	}
	finished := 0
	for _, s := range fw.states {
		if s == mesos.TASK_FINISHED {
			finished++
		}
	}
	all := finished == fw.total && !fw.done
	if all {
		fw.done = true
	}
	fw.mu.Unlock()
	if all {
		report("teardown", map[string]any{"finished": finished})
		// mesos-go has no helper for TEARDOWN: the call is its type alone.
		if err := calls.CallNoData(ctx, cli, &scheduler.Call{Type: scheduler.Call_TEARDOWN}); err != nil {
			log.Printf("TEARDOWN: %v", err)
		}
		stop()
	}
	return nil
}

// refused says whether the master refused a task's launch because its
// offers were no longer valid: the task never started, and may be
// launched again under the same ID.
func refused(st mesos.TaskStatus) bool {
	lost := st.GetState() == mesos.TASK_LOST || st.GetState() == mesos.TASK_DROPPED
	return lost && st.GetSource() == mesos.SOURCE_MASTER && st.GetReason() == mesos.REASON_INVALID_OFFERS
}
