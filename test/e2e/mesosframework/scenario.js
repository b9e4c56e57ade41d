// The e2e test's Mesos framework (test/e2e/mesos_framework_test.go): the npm
// library mesos-framework, unmodified, speaking the Mesos v1 scheduler HTTP
// API (JSON) to a kubemesos master. It subscribes, launches three command
// tasks that finish and one that sleeps, and two tasks on custom executors
// that each finish and send the framework a message: one on
// mesos-go-executor (a Mesos executor built on mesos-go's library, in the
// image kubemesos/mesos-go-executor:e2e, which sends its token), one on
// executor.js (the npm library's own executor, in the image
// kubemesos/mesos-framework-executor:e2e, which sends no credentials). It
// acknowledges every update (the library does), declines the offers it no
// longer needs (the library does), kills the sleeper once the others have
// finished, and tears the framework down. Each step is printed as one line,
// "SCENARIO <json>", for the test to read; the library's own log goes to
// stderr.
//
//   node scenario.js --master 10.0.0.5 --port 5050 --name e2e --timeout 180
"use strict";

const lib = require("mesos-framework");
const defaultHandlers = require("mesos-framework/lib/schedulerHandlers");

const Mesos = lib.Mesos.getMesos();

function arg(name, fallback) {
    const i = process.argv.indexOf("--" + name);
    return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

function report(event, fields) {
    process.stdout.write("SCENARIO " + JSON.stringify(Object.assign({ event: event }, fields || {})) + "\n");
}

const finishing = 3;
const states = {}; // task ID -> latest state
let killed = false;
let tornDown = false;

function command(line) {
    return new Mesos.CommandInfo(null, null, true, line, null, null);
}

const resources = { cpus: 0.1, mem: 32, ports: 0, disk: 0 };

// A custom executor: a Mesos image, run as a shell command, as a Mesos
// framework describes one.
function customExecutor(id, line, image) {
    return new Mesos.ExecutorInfo({
        executor_id: new Mesos.ExecutorID(id),
        command: command(line),
        container: new Mesos.ContainerInfo({
            type: Mesos.ContainerInfo.Type.MESOS,
            mesos: new Mesos.ContainerInfo.MesosInfo({
                image: new Mesos.Image({ type: Mesos.Image.Type.DOCKER, docker: new Mesos.Image.Docker({ name: image }) })
            })
        })
    });
}

// The tasks on custom executors, by the name in their task IDs: mesos-go's
// executor, and the npm library's own (executor.js).
const workers = [
    { name: "worker", executor: customExecutor("e2e-worker", "mesos-go-executor", "kubemesos/mesos-go-executor:e2e") },
    { name: "npmworker", executor: customExecutor("e2e-npm-worker", "node /opt/mesos-framework/executor.js", "kubemesos/mesos-framework-executor:e2e") }
];
const messages = {}; // executor ID -> its messages, as text
let pendingWorkers = workers.slice();

// The library's task definitions always carry a CommandInfo, which Mesos
// refuses beside an ExecutorInfo; so the custom executors' tasks are
// launched with the library's own ACCEPT call, on the first offers that fit.
function launchWorkers(offer, fit) {
    const scalar = (name, value) => new Mesos.Resource({ name: name, type: Mesos.Value.Type.SCALAR, scalar: new Mesos.Value.Scalar(value) });
    const tasks = fit.map((w) => new Mesos.TaskInfo({
        name: w.name,
        task_id: new Mesos.TaskID(scheduler.options.frameworkName + "." + w.name + "-1." + Date.now()),
        agent_id: offer.agent_id,
        resources: [scalar("cpus", resources.cpus), scalar("mem", resources.mem)],
        executor: w.executor
    }));
    const launch = new Mesos.Offer.Operation({ type: Mesos.Offer.Operation.Type.LAUNCH, launch: new Mesos.Offer.Operation.Launch(tasks) });
    tasks.forEach((task) => report("launch-worker", { task: task.task_id.value, agent: offer.agent_id.value, executor: task.executor.executor_id.value }));
    scheduler.accept([offer.id], [launch], null);
}

function scalarOf(offer, name) {
    const r = (offer.resources || []).find((x) => x.name === name);
    return r && r.scalar ? r.scalar.value : 0;
}

const scheduler = new lib.Scheduler({
    masterUrl: arg("master", "127.0.0.1"),
    port: arg("port", "5050"),
    frameworkName: arg("name", "e2e-mesos-framework"),
    // The library reconnects when it hears nothing for this long; the
    // master's heartbeats come more often.
    masterConnectionTimeout: 60,
    frameworkFailoverTimeout: 300,
    // Nothing is restarted: a failed task is a failed test.
    restartStates: [],
    logging: { level: arg("log-level", "warn"), path: arg("log-dir", require("os").tmpdir()), fileName: "mesos-framework-e2e.log" },
    tasks: {
        hello: { priority: 1, instances: finishing, commandInfo: command("echo hello from a Mesos framework"), resources: resources },
        sleeper: { priority: 2, instances: 1, commandInfo: command("sleep 600"), resources: resources }
    },
    handlers: {
        // The library's own UPDATE handler (which also acknowledges), and
        // then what the test needs to see.
        UPDATE: function (update) {
            const st = update.status;
            if (isWorker(st.task_id.value)) {
                // Not one of the library's tasks: acknowledged here.
                this.acknowledge(update);
            } else {
                defaultHandlers.UPDATE.call(this, update);
            }
            states[st.task_id.value] = st.state;
            report("update", {
                task: st.task_id.value, state: st.state, source: st.source, reason: st.reason || "",
                agent: st.agent_id ? st.agent_id.value : "", uuid: Boolean(st.uuid), message: st.message || ""
            });
            progress();
        },
        OFFERS: function (offers) {
            report("offers", { count: offers.offers.length, ip: offers.offers.map((o) => (o.url && o.url.address ? o.url.address.ip : "")) });
            let rest = offers.offers;
            for (const o of offers.offers) {
                if (pendingWorkers.length === 0) {
                    break;
                }
                const room = Math.min(Math.floor(scalarOf(o, "cpus") / resources.cpus + 1e-9), Math.floor(scalarOf(o, "mem") / resources.mem));
                if (room >= 1) {
                    const fit = pendingWorkers.slice(0, room);
                    pendingWorkers = pendingWorkers.slice(room);
                    launchWorkers(o, fit);
                    rest = rest.filter((x) => x !== o);
                }
            }
            defaultHandlers.OFFERS.call(this, Object.assign({}, offers, { offers: rest }));
        }
    }
});

// The library names a task "<framework name>.<task name>-<n>.<uuid>".
function ids(name) {
    return Object.keys(states).filter((id) => id.indexOf("." + name + "-") > 0);
}

// isWorker tells the tasks on custom executors.
function isWorker(id) {
    return workers.some((w) => id.indexOf("." + w.name + "-") > 0);
}

function progress() {
    const hello = ids("hello");
    const sleeper = ids("sleeper");
    const finished = hello.filter((id) => states[id] === "TASK_FINISHED").length;
    const workerDone = workers.every((w) => {
        const id = ids(w.name);
        const msgs = messages[w.executor.executor_id.value] || [];
        return id.length === 1 && states[id[0]] === "TASK_FINISHED" && msgs.length > 0;
    });
    if (!killed && finished === finishing && workerDone && sleeper.length === 1 && states[sleeper[0]] === "TASK_RUNNING") {
        killed = true;
        const task = scheduler.launchedTasks.find((t) => t.taskId === sleeper[0]);
        report("kill", { task: sleeper[0] });
        scheduler.kill(sleeper[0], task.runtimeInfo.agentId);
    }
    if (!tornDown && killed && finished === finishing && states[sleeper[0]] === "TASK_KILLED") {
        tornDown = true;
        report("teardown", { finished: finished });
        scheduler.teardown();
        scheduler.once("sent_teardown", () => {
            report("done", { finished: finished, killed: 1 });
            process.exit(0);
        });
    }
}

scheduler.on("subscribed", (s) => report("subscribed", { frameworkId: s.frameworkId, streamId: s.mesosStreamId }));
scheduler.on("sent_accept", () => report("accepted"));
scheduler.on("message", (m) => {
    const executor = m.executorId ? m.executorId.value : "";
    (messages[executor] = messages[executor] || []).push(m.data);
    report("message", { executor: executor, agent: m.agentId ? m.agentId.value : "", data: m.data });
    progress();
});
scheduler.on("sent_decline", () => report("declined"));
scheduler.on("sent_acknowledge", () => report("acknowledged"));
scheduler.on("error", (e) => {
    const message = e && e.message ? e.message : String(e);
    // The master ends the subscription when it tears the framework down;
    // the library may see that before the TEARDOWN call's answer.
    if (tornDown && message === "Long-running connection was closed!") {
        report("closed", { message: message });
        return;
    }
    report("error", { message: message });
});
scheduler.on("ready", () => scheduler.subscribe());

setTimeout(() => {
    report("timeout", { states: states });
    process.exit(1);
}, Number(arg("timeout", "180")) * 1000);
