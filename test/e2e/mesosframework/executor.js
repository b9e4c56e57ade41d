// The custom executor of one task of scenario.js, built on the npm library
// mesos-framework's own Executor (lib/executor.js), unmodified: it reads
// MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID, MESOS_DIRECTORY and
// MESOS_AGENT_ENDPOINT, and speaks the Mesos v1 executor API in JSON to the
// agent WITHOUT credentials (the library sends none), which the agent takes
// only in a namespace opted in with --executor-api-anonymous-namespaces,
// from the executor pod's own address. For each task it is launched with it
// sends TASK_RUNNING, a framework message "hello from <task>" and
// TASK_FINISHED; it exits on SHUTDOWN.
//
// The library neither retries a SUBSCRIBE that fails nor resends updates;
// this executor does both, until the agent acknowledges them. (The
// library's SUBSCRIBE lacks the "subscribe" field, which Apache Mesos 1.x
// refuses; the agent takes it as an empty one.)
//
// It runs in the image kubemesos/mesos-framework-executor:e2e
// (hack/localcluster/images.go) as: node /opt/mesos-framework/executor.js
"use strict";

const crypto = require("crypto");
const lib = require("mesos-framework");

// Log lines go to stderr: the pod's log.
function log(what, fields) {
    process.stderr.write("executor: " + what + (fields ? " " + JSON.stringify(fields) : "") + "\n");
}

const unacked = {}; // uuid (base64) -> the TaskStatus not yet acknowledged
let subscribed = false;
let shutdown = false;

function send(status) {
    unacked[status.uuid] = status;
    executor.update(status);
}

function status(taskId, state, message) {
    return {
        task_id: taskId,
        state: state,
        source: "SOURCE_EXECUTOR",
        message: message,
        executor_id: { value: process.env.MESOS_EXECUTOR_ID },
        uuid: crypto.randomBytes(16).toString("base64"),
        timestamp: Date.now() / 1000
    };
}

const executor = new lib.Executor({
    // The library calls a handler only when it takes exactly one argument.
    handlers: {
        SUBSCRIBED: function (subscribed_) {
            subscribed = true;
            log("subscribed", { agent: subscribed_.agent_info ? subscribed_.agent_info.id : null });
            // Updates the agent never acknowledged are sent again.
            Object.keys(unacked).forEach((u) => executor.update(unacked[u]));
        },
        LAUNCH: function (launch) {
            const task = launch.task;
            log("launch", { task: task.task_id.value });
            send(status(task.task_id, "TASK_RUNNING", "running on the npm library's executor"));
            setTimeout(() => {
                executor.message("hello from " + task.task_id.value);
                send(status(task.task_id, "TASK_FINISHED", "finished on the npm library's executor"));
            }, 500);
        },
        KILL: function (kill) {
            log("kill", { task: kill.task_id.value });
            send(status(kill.task_id, "TASK_KILLED", "killed on the npm library's executor"));
        },
        ACKNOWLEDGED: function (ack) {
            delete unacked[ack.uuid];
            log("acknowledged", { task: ack.task_id.value });
        },
        MESSAGE: function (message) {
            log("message", { data: Buffer.from(message.data || "", "base64").toString() });
        },
        ERROR: function (error) {
            log("error event", error);
        },
        SHUTDOWN: function (event) {
            log("shutdown", event || {});
            shutdown = true;
            process.exit(0);
        }
    }
});

// The library reports the end of its SUBSCRIBE stream (a refused SUBSCRIBE
// ends it at once) and a SUBSCRIBE that cannot connect as "error" objects:
// then it subscribes again (the agent answers 503 to an executor whose pod
// address it has not seen yet). Its other errors (an UPDATE or MESSAGE not
// accepted, an event it has no handler for, such as HEARTBEAT) are logged;
// updates are sent again below.
let retry = null;
executor.on("error", (e) => {
    log("error", e);
    const msg = e && typeof e === "object" ? String(e.message) : "";
    const ended = msg === "Long-running connection was closed!" || msg.indexOf("There was a problem with the request") === 0;
    if (ended && !shutdown && retry === null) {
        subscribed = false;
        retry = setTimeout(() => {
            retry = null;
            executor.subscribe();
        }, 1000);
    }
});
executor.on("sent_update", () => log("update sent"));
executor.on("sent_message", () => log("message sent"));

// Updates are sent again until acknowledged, as a Mesos executor must.
setInterval(() => {
    if (subscribed) {
        Object.keys(unacked).forEach((u) => executor.update(unacked[u]));
    }
}, 10000);

executor.subscribe();
