// The e2e test's Mesos framework (test/e2e/mesos_framework_test.go): the npm
// library mesos-framework, unmodified, speaking the Mesos v1 scheduler HTTP
// API (JSON) to a kubemesos master. It subscribes, launches three command
// tasks that finish and one that sleeps, acknowledges every update (the
// library does), declines the offers it no longer needs (the library does),
// kills the sleeper once the others have finished, and tears the framework
// down. Each step is printed as one line, "SCENARIO <json>", for the test to
// read; the library's own log goes to stderr.
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
            defaultHandlers.UPDATE.call(this, update);
            const st = update.status;
            states[st.task_id.value] = st.state;
            report("update", {
                task: st.task_id.value, state: st.state, source: st.source, reason: st.reason || "",
                agent: st.agent_id ? st.agent_id.value : "", uuid: Boolean(st.uuid), message: st.message || ""
            });
            progress();
        },
        OFFERS: function (offers) {
            report("offers", { count: offers.offers.length, ip: offers.offers.map((o) => (o.url && o.url.address ? o.url.address.ip : "")) });
            defaultHandlers.OFFERS.call(this, offers);
        }
    }
});

// The library names a task "<framework name>.<task name>-<n>.<uuid>".
function ids(name) {
    return Object.keys(states).filter((id) => id.indexOf("." + name + "-") > 0);
}

function progress() {
    const hello = ids("hello");
    const sleeper = ids("sleeper");
    const finished = hello.filter((id) => states[id] === "TASK_FINISHED").length;
    if (!killed && finished === finishing && sleeper.length === 1 && states[sleeper[0]] === "TASK_RUNNING") {
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
scheduler.on("sent_decline", () => report("declined"));
scheduler.on("sent_acknowledge", () => report("acknowledged"));
scheduler.on("error", (e) => report("error", { message: e && e.message ? e.message : String(e) }));
scheduler.on("ready", () => scheduler.subscribe());

setTimeout(() => {
    report("timeout", { states: states });
    process.exit(1);
}, Number(arg("timeout", "180")) * 1000);
