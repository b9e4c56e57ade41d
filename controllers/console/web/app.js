// The kubemesos console's pages. Every page is drawn in the browser from
// the console's JSON API (/api/v1/); the live updates (/api/v1/events)
// redraw the overview at once and reload any other page at most every
// two seconds. Text goes into the page as text, never as HTML.
"use strict";

const main = document.getElementById("main");
const liveBadge = document.getElementById("live");
const userBox = document.getElementById("user");
const logoutButton = document.getElementById("logout");

const TASK_STATES = ["PENDING", "TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_FINISHED",
  "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE", "TASK_UNREACHABLE",
  "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN"];

// ---- building the page -------------------------------------------------

// el makes an element: attributes from attrs (on* are listeners), then
// the children (strings become text).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  append(e, children);
  return e;
}

function append(e, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

function svg(tag, attrs) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

function show(...children) {
  main.replaceChildren();
  append(main, children);
}

function link(href, text) { return el("a", { href }, text); }

function taskHref(ns, name) { return "#/tasks/" + encodeURIComponent(ns) + "/" + encodeURIComponent(name); }
function frameworkHref(ns, name) { return "#/frameworks/" + encodeURIComponent(ns) + "/" + encodeURIComponent(name); }
function agentHref(name) { return "#/agents/" + encodeURIComponent(name); }

// badge shows a phase or a state, coloured by what it means.
function badge(s) {
  let kind = "";
  if (/^(Active|Registered|Completed|TASK_FINISHED|Ready)$/.test(s)) kind = "ok";
  else if (/^(TASK_RUNNING|TASK_STARTING|TASK_STAGING|Running)$/.test(s)) kind = "run";
  else if (/^(Disconnected|Draining|Registering|Pending|TASK_KILLING|PENDING|TASK_UNREACHABLE|Unreachable)$/.test(s)) kind = "warn";
  else if (/^(Failed|Gone|TASK_FAILED|TASK_ERROR|TASK_LOST|TASK_DROPPED|TASK_GONE|TASK_KILLED|TASK_GONE_BY_OPERATOR|TASK_UNKNOWN)$/.test(s)) kind = "bad";
  return el("span", { class: "badge " + kind }, s);
}

// resources writes {"cpu": "1500m", "memory": "2Gi"} as "cpu 1.5 · memory 2.0Gi".
function resources(r) {
  if (!r || Object.keys(r).length === 0) return el("span", { class: "muted" }, "–");
  return Object.keys(r).sort().map(k => k + " " + amount(k, r[k])).join(" · ");
}

// amount writes a quantity of resource name for people: cores for cpu,
// binary units for bytes, else the number.
function amount(name, q) {
  const x = typeof q === "number" ? q : quantity(q);
  if (isNaN(x)) return String(q);
  if (name === "cpu") return x < 1 && x > 0 ? Math.round(x * 1000) + "m" : +x.toFixed(2) + "";
  if (/memory|storage|^hugepages-/.test(name)) {
    const units = ["", "Ki", "Mi", "Gi", "Ti", "Pi"];
    let v = x, i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? v : v.toFixed(1)) + units[i];
  }
  return +x.toFixed(2) + "";
}

function percent(x) { return (100 * x).toFixed(1) + "%"; }

// bar is a bar filled to each fraction in turn (stacked).
function bar(...fractions) {
  return el("span", { class: "bar" }, fractions.map((f, i) => {
    const part = el("span", { class: "part" + i });
    part.style.width = Math.max(0, Math.min(100, 100 * f)).toFixed(1) + "%";
    return part;
  }));
}

function when(t) {
  if (!t) return "–";
  const d = new Date(t);
  if (isNaN(d) || d.getFullYear() < 2) return "–";
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  let ago;
  if (s < 0) ago = "in " + human(-s);
  else ago = human(s) + " ago";
  return el("time", { datetime: d.toISOString(), title: d.toISOString() }, ago);
}

function human(s) {
  if (s < 90) return s + "s";
  if (s < 5400) return Math.round(s / 60) + "m";
  if (s < 172800) return Math.round(s / 3600) + "h";
  return Math.round(s / 86400) + "d";
}

function table(columns, rows, empty) {
  const head = el("tr", {}, columns.map(c => el("th", { class: c.num ? "num" : "" }, c.title)));
  const body = rows.length === 0
    ? [el("tr", {}, el("td", { colspan: columns.length, class: "muted" }, empty || "None."))]
    : rows.map(r => el("tr", { "data-key": r.__key }, columns.map(c => el("td", { class: c.num ? "num" : "" }, c.cell(r)))));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, body));
}

function fields(pairs) {
  return el("dl", { class: "fields" }, pairs.filter(p => p).map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function conditions(list) {
  return table([
    { title: "Type", cell: c => c.type },
    { title: "Status", cell: c => c.status },
    { title: "Reason", cell: c => c.reason || "" },
    { title: "Message", cell: c => el("span", { class: "msg" }, c.message || "") },
    { title: "Since", cell: c => when(c.since) },
  ], list || [], "No conditions.");
}

function offersTable(list) {
  return table([
    { title: "Offer", cell: o => o.name },
    { title: "Framework", cell: o => link(frameworkHref(o.namespace, o.framework), o.namespace + "/" + o.framework) },
    { title: "Agent", cell: o => o.node || o.agentID },
    { title: "Resources", cell: o => resources(o.resources) },
    { title: "Left", cell: o => resources(o.left) },
    { title: "Made", cell: o => when(o.created) },
  ], list || [], "No outstanding offers.");
}

function taskTable(items) {
  return table([
    { title: "Namespace", cell: t => t.namespace },
    { title: "Task", cell: t => link(taskHref(t.namespace, t.name), t.name) },
    { title: "Framework", cell: t => link(frameworkHref(t.namespace, t.framework), t.framework) },
    { title: "State", cell: t => badge(t.state) },
    { title: "Reason", cell: t => t.reason || "" },
    { title: "Source", cell: t => t.source || "" },
    { title: "Agent", cell: t => t.node ? link(agentHref(t.node), t.node) : "" },
    { title: "Updated", cell: t => when(t.updated) },
  ], items.map(t => Object.assign({ __key: t.namespace + "/" + t.name }, t)), "No tasks match.");
}

// ---- the API -----------------------------------------------------------

// APIError is an answer that is not 2xx. proxied is set when the answer
// came through `kubectl mesos console`, whose token a login cannot
// replace.
class APIError extends Error {
  constructor(code, message, proxied) { super(message); this.code = code; this.proxied = proxied; }
}

async function api(path, asText) {
  const r = await fetch(path, { headers: { Accept: asText ? "text/plain" : "application/json" }, credentials: "same-origin" });
  if (!r.ok) {
    let msg = r.statusText;
    try { msg = (await r.json()).message || msg; } catch (e) { /* not JSON */ }
    throw new APIError(r.status, msg, r.headers.has("X-Kubemesos-Console-Proxy"));
  }
  return asText ? r.text() : r.json();
}

// refused shows why the token of `kubectl mesos console` does not work.
function refused(e) {
  disconnect();
  show(el("h1", {}, "The token was refused"),
    el("p", { class: "error", id: "error" }, e.message),
    el("p", {}, "This page is served by ", el("code", {}, "kubectl mesos console"),
      ", which adds its token to every request, so logging in cannot help. Restart it (a token given with --token may have expired)."));
  main.dataset.page = "refused";
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? "?" + s : "";
}

// ---- routing -----------------------------------------------------------

// route is the current page: its name, path parts and query.
function route() {
  const h = location.hash.replace(/^#\/?/, "");
  const [path, qs] = h.split("?");
  let parts;
  try {
    parts = path.split("/").filter(p => p !== "").map(decodeURIComponent);
  } catch (e) {
    parts = ["\u0000"]; // not a page
  }
  return { parts, q: new URLSearchParams(qs || "") };
}

function go(parts, q) {
  const path = "#/" + parts.map(encodeURIComponent).join("/");
  const s = q ? new URLSearchParams(Object.entries(q).filter(([, v]) => v)).toString() : "";
  location.hash = s ? path + "?" + s : path;
}

const pages = {
  "": overviewPage,
  frameworks: r => r.parts.length === 3 ? frameworkPage(r.parts[1], r.parts[2]) : frameworksPage(r.q),
  agents: r => r.parts.length === 2 ? agentPage(r.parts[1]) : agentsPage(r.q),
  tasks: (r, live) => r.parts.length === 3 ? taskPage(r.parts[1], r.parts[2], live) : tasksPage(r.q),
  roles: rolesPage,
};

let drawing = 0;

// draw draws the current page; a newer draw wins over one in flight.
async function draw(live) {
  const r = route();
  const name = r.parts[0] || "";
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("current", (a.dataset.page === "overview" ? "" : a.dataset.page) === name);
  }
  const page = pages[name];
  if (!page) { show(el("p", { class: "error", id: "error" }, "No such page.")); main.dataset.route = location.hash; main.dataset.ready = String(++drawing); return; }
  const n = ++drawing;
  try {
    const nodes = await page(r, live);
    if (n !== drawing || nodes === undefined) return;
    // A live redraw keeps the viewer's place in a search box; a new page
    // starts afresh.
    const focused = live && document.activeElement && document.activeElement.id;
    const caret = focused && document.activeElement.selectionStart;
    show(nodes);
    main.dataset.page = name || "overview";
    main.dataset.route = location.hash;
    main.dataset.ready = String(n);
    if (focused) {
      const f = document.getElementById(focused);
      if (f) { f.focus(); if (caret !== undefined && f.setSelectionRange) try { f.setSelectionRange(caret, caret); } catch (e) { /* not text */ } }
    }
  } catch (e) {
    if (n !== drawing) return;
    if (e instanceof APIError && e.code === 401) { if (e.proxied) refused(e); else loginPage(); return; }
    show(el("h1", {}, "Could not load this page"), el("p", { class: "error", id: "error" }, e.message));
    main.dataset.route = location.hash;
    main.dataset.ready = String(n);
  }
}

// ---- pages -------------------------------------------------------------

let lastOverview = null;

async function overviewPage(r, live) {
  const o = (live && lastOverview) || await api("/api/v1/overview");
  return overviewNodes(o);
}

function tiles(id, counts, order) {
  const keys = Object.keys(counts || {});
  keys.sort((a, b) => (order ? order.indexOf(a) - order.indexOf(b) : 0) || a.localeCompare(b));
  if (keys.length === 0) return el("p", { class: "muted" }, "None.");
  return el("div", { class: "tiles", id }, keys.map(k =>
    el("div", { class: "tile", "data-key": k }, el("span", { class: "n" }, String(counts[k])), el("span", { class: "k" }, k.replace(/^TASK_/, "")))));
}

function overviewNodes(o) {
  const cards = [];
  if (o.agentsByPhase) {
    cards.push(el("div", { class: "card" }, el("h3", {}, link("#/agents", "Agents")), tiles("agents-by-phase", o.agentsByPhase)));
  }
  cards.push(el("div", { class: "card" }, el("h3", {}, link("#/frameworks", "Frameworks")), tiles("frameworks-by-phase", o.frameworksByPhase)));
  cards.push(el("div", { class: "card" }, el("h3", {}, link("#/tasks", "Tasks")), tiles("tasks-by-state", o.tasksByState, TASK_STATES)));
  const out = [el("h1", {}, "Overview"), el("div", { class: "cards" }, cards)];
  out.push(el("h2", {}, "Resources"));
  out.push(el("div", { class: "card", id: "resources" }, resourceBars(o)));
  out.push(el("h2", {}, "Allocation over time"));
  out.push(allocationChart(o.history || []));
  out.push(el("p", { class: "muted" }, "Allocation cycle ", el("span", { id: "cycle" }, String(o.cycle)), ", ", when(o.at), "."));
  return out;
}

// quantity reads a Kubernetes quantity ("1500m", "2Gi") as a number.
function quantity(s) {
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(String(s));
  if (!m) return NaN;
  const units = { "": 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
    Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5, Ei: 1024 ** 6 };
  return parseFloat(m[1]) * (units[m[2]] ?? NaN);
}

function resourceBars(o) {
  if (!o.total) {
    return el("div", {}, el("p", { class: "muted" }, "Your frameworks hold: "), el("p", { id: "allocated" }, resources(o.allocated)));
  }
  const rows = Object.keys(o.total).sort().map(k => {
    const total = quantity(o.total[k]);
    const used = quantity((o.allocated || {})[k] || "0");
    const offered = quantity((o.offered || {})[k] || "0");
    return el("div", { class: "res", "data-resource": k },
      el("span", { class: "name" }, k), bar(total > 0 ? used / total : 0, total > 0 ? offered / total : 0),
      el("span", {}, amount(k, used) + " used by tasks"),
      el("span", { class: "muted" }, "· " + amount(k, offered) + " offered · " + amount(k, total) + " in all"));
  });
  return [rows, el("div", { class: "legend" }, el("span", {}, el("span", { class: "swatch s0" }), "used by tasks"),
    el("span", {}, el("span", { class: "swatch offered" }), "offered"))];
}

// allocationChart plots, per resource, the allocated fraction of the
// total over the history (or the allocated amount when there is no
// total, for a viewer who may not see the agents).
function allocationChart(history) {
  const W = 1000, H = 180, P = 24;
  const box = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": "Allocation over time" });
  if (history.length < 2) {
    const t = svg("text", { x: P, y: H / 2, fill: "#5d6778", "font-size": 13 });
    t.textContent = "Not enough cycles yet.";
    box.append(t);
    return el("div", {}, box);
  }
  const first = ["cpu", "memory"];
  const keys = [...new Set(history.flatMap(s => Object.keys(s.allocated || {}).concat(Object.keys(s.total || {}))))]
    .sort((a, b) => ((first.indexOf(a) + 1 || 9) - (first.indexOf(b) + 1 || 9)) || a.localeCompare(b)).slice(0, 4);
  const colours = ["#2f5fd0", "#1f8a4c", "#b7791f", "#805ad5"];
  for (let y = 0; y <= 4; y++) {
    box.append(svg("line", { x1: P, x2: W - P, y1: P + (H - 2 * P) * y / 4, y2: P + (H - 2 * P) * y / 4, stroke: "#e2e8f0", "stroke-width": 1 }));
  }
  const legend = [];
  keys.forEach((k, i) => {
    const vals = history.map(s => {
      const a = (s.allocated || {})[k] || 0;
      const t = (s.total || {})[k];
      return t ? a / t : a;
    });
    const top = history.some(s => (s.total || {})[k]) ? 1 : Math.max(...vals, 1e-9);
    const pts = vals.map((v, j) => {
      const x = P + (W - 2 * P) * j / (vals.length - 1);
      const y = H - P - (H - 2 * P) * Math.min(v / top, 1);
      return x.toFixed(1) + "," + y.toFixed(1);
    }).join(" ");
    box.append(svg("polyline", { points: pts, fill: "none", stroke: colours[i], "stroke-width": 2, "vector-effect": "non-scaling-stroke" }));
    const last = vals[vals.length - 1];
    legend.push(el("span", {}, el("span", { class: "swatch s" + i }), k + " " + (top === 1 ? percent(last) : amount(k, last))));
  });
  const span = human(Math.round((new Date(history[history.length - 1].at) - new Date(history[0].at)) / 1000));
  const what = history.some(s => s.total) ? "held by frameworks (tasks and offers), 0–100% of the total" : "held by your frameworks (tasks and offers)";
  return el("div", {}, box, el("div", { class: "legend" }, legend, el("span", {}, what + ", over the last " + span)));
}

function searchBar(id, placeholder, value, onsearch) {
  return el("input", { type: "search", id, placeholder, value: value || "", "aria-label": placeholder,
    onkeydown: e => { if (e.key === "Enter") onsearch(e.target.value.trim()); } });
}

function pager(p, onpage) {
  return el("div", { class: "pager" },
    el("button", { type: "button", id: "prev", disabled: p.page <= 1, onclick: () => onpage(p.page - 1) }, "‹ Previous"),
    el("span", { id: "page-info" }, `Page ${p.page} of ${p.pages} · ${p.total} in all`),
    el("button", { type: "button", id: "next", disabled: p.page >= p.pages, onclick: () => onpage(p.page + 1) }, "Next ›"));
}

function counts(c) {
  const parts = [];
  for (const k of ["staging", "starting", "running", "killing", "finished", "failed", "killed", "error", "lost", "dropped"]) {
    if (c && c[k]) parts.push(c[k] + " " + k);
  }
  return parts.length ? parts.join(", ") : el("span", { class: "muted" }, "–");
}

async function frameworksPage(q) {
  const p = await api("/api/v1/frameworks" + query({ q: q.get("q"), page: q.get("page") }));
  const nav = (params) => go(["frameworks"], Object.assign({ q: q.get("q"), page: q.get("page") }, params));
  return [
    el("h1", {}, "Frameworks"),
    el("div", { class: "toolbar" }, searchBar("search", "Search namespace/name", q.get("q"), v => nav({ q: v, page: "" }))),
    table([
      { title: "Namespace", cell: f => f.namespace },
      { title: "Name", cell: f => link(frameworkHref(f.namespace, f.name), f.name) },
      { title: "Role", cell: f => f.role },
      { title: "Phase", cell: f => [badge(f.phase), f.suppressed ? el("span", { class: "muted" }, " suppressed") : ""] },
      { title: "DRF", num: true, cell: f => f.drfRank ? "#" + f.drfRank : "–" },
      { title: "Dominant share", cell: f => [bar(f.dominantShare), percent(f.dominantShare)] },
      { title: "Allocated", cell: f => resources(f.allocated) },
      { title: "Offers", num: true, cell: f => String(f.outstandingOffers) },
      { title: "Filtered agents", num: true, cell: f => String(f.filteredAgents) },
      { title: "Tasks", cell: f => counts(f.tasks) },
    ], p.items.map(f => Object.assign({ __key: f.namespace + "/" + f.name }, f)), "No frameworks you may read."),
    pager(p, n => nav({ page: String(n) })),
  ];
}

async function frameworkPage(ns, name) {
  const f = await api("/api/v1/frameworks/" + encodeURIComponent(ns) + "/" + encodeURIComponent(name));
  return [
    el("h1", {}, "Framework ", ns + "/" + name),
    fields([
      ["Phase", [badge(f.phase), f.suppressed ? " (suppressing offers)" : ""]],
      ["Framework ID", f.id || "–"],
      ["Role", f.role],
      ["DRF rank", f.drfRank ? "#" + f.drfRank + " of your frameworks" : "takes no part in allocation now"],
      ["Dominant share", [bar(f.dominantShare), percent(f.dominantShare)]],
      ["Allocated", resources(f.allocated)],
      ["Tasks", [counts(f.tasks), " · ", link("#/tasks?" + new URLSearchParams({ namespace: ns, framework: name }), "list")]],
      f.message ? ["Message", f.message] : null,
    ]),
    el("h2", {}, "Outstanding offers"),
    offersTable(f.offers),
    el("h2", {}, "Decline filters"),
    table([
      { title: "Agent", cell: x => x.node ? link(agentHref(x.node), x.node) : x.agentID },
      { title: "Agent ID", cell: x => x.agentID },
      { title: "Refused until", cell: x => when(x.until) },
    ], f.filters || [], "No agent filtered."),
    el("h2", {}, "Conditions"),
    conditions(f.conditions),
  ];
}

async function agentsPage(q) {
  const p = await api("/api/v1/agents" + query({ q: q.get("q"), page: q.get("page") }));
  const nav = (params) => go(["agents"], Object.assign({ q: q.get("q"), page: q.get("page") }, params));
  return [
    el("h1", {}, "Agents"),
    el("div", { class: "toolbar" }, searchBar("search", "Search name or agent ID", q.get("q"), v => nav({ q: v, page: "" }))),
    table([
      { title: "Agent", cell: a => link(agentHref(a.name), a.name) },
      { title: "Agent ID", cell: a => el("span", { class: "muted" }, a.agentID || "") },
      { title: "Phase", cell: a => badge(a.phase) },
      { title: "Total", cell: a => resources(a.total) },
      { title: "Allocated", cell: a => resources(a.allocated) },
      { title: "Offered", cell: a => resources(a.offered) },
      { title: "Free", cell: a => resources(a.free) },
      { title: "Tasks", num: true, cell: a => String(a.tasks) },
    ], p.items.map(a => Object.assign({ __key: a.name }, a)), "No agents match."),
    pager(p, n => nav({ page: String(n) })),
  ];
}

async function agentPage(name) {
  const a = await api("/api/v1/agents/" + encodeURIComponent(name));
  const byFw = Object.keys(a.tasksByFramework || {}).sort();
  return [
    el("h1", {}, "Agent ", name),
    fields([
      ["Phase", badge(a.phase)],
      ["Agent ID", a.agentID || "–"],
      ["Total", resources(a.total)],
      ["Allocated", resources(a.allocated)],
      ["Offered", resources(a.offered)],
      ["Free", resources(a.free)],
      ["Tasks", [String(a.tasks), " · ", link("#/tasks?" + new URLSearchParams({ agent: a.agentID || name }), "list")]],
    ]),
    el("h2", {}, "Live tasks by framework"),
    table([
      { title: "Framework", cell: k => { const [ns, fw] = k.split("/"); return link(frameworkHref(ns, fw), k); } },
      { title: "Resources", cell: k => resources(a.tasksByFramework[k]) },
    ], byFw, "No live tasks of yours."),
    el("h2", {}, "Outstanding offers"),
    offersTable(a.offers),
    el("h2", {}, "Tasks"),
    taskTable(a.taskPage.items),
    a.taskPage.pages > 1 ? el("p", {}, link("#/tasks?" + new URLSearchParams({ agent: a.agentID }), "All " + a.taskPage.total + " tasks")) : "",
    el("h2", {}, "Conditions"),
    conditions(a.conditions),
  ];
}

async function tasksPage(q) {
  const params = { q: q.get("q"), namespace: q.get("namespace"), framework: q.get("framework"), state: q.get("state"), agent: q.get("agent"), page: q.get("page") };
  const p = await api("/api/v1/tasks" + query(params));
  const nav = (change) => go(["tasks"], Object.assign({}, params, { page: "" }, change));
  const filter = (id, label, key) => el("input", { type: "search", id, placeholder: label, "aria-label": label, value: params[key] || "",
    onkeydown: e => { if (e.key === "Enter") nav({ [key]: e.target.value.trim() }); } });
  const state = el("select", { id: "state", "aria-label": "State", onchange: e => nav({ state: e.target.value }) },
    el("option", { value: "" }, "Any state"),
    TASK_STATES.map(s => el("option", { value: s, selected: s === params.state }, s)));
  return [
    el("h1", {}, "Tasks"),
    el("div", { class: "toolbar" },
      filter("search", "Search namespace/name", "q"), filter("namespace", "Namespace", "namespace"),
      filter("framework", "Framework", "framework"), filter("agent", "Agent ID", "agent"), state),
    taskTable(p.items),
    pager(p, n => nav({ page: String(n) })),
  ];
}

async function taskPage(ns, name, live) {
  const t = await api("/api/v1/tasks/" + encodeURIComponent(ns) + "/" + encodeURIComponent(name));
  const key = ns + "/" + name;
  const logBox = el("pre", { class: "log", id: "log", "data-key": key });
  // paint shows the log as last read, in this box and in the one on the
  // page (a live redraw makes a new box while a read is under way).
  const paint = () => {
    for (const box of new Set([logBox, document.getElementById("log")])) {
      if (box && box.dataset.key === key && logState && logState.key === key) {
        box.textContent = logState.text;
        box.classList.toggle("unavailable", logState.failed);
        box.scrollTop = box.scrollHeight;
      }
    }
  };
  const loadLog = () => {
    const mine = { key, text: "Loading the log…", failed: false };
    logState = mine;
    paint();
    api("/api/v1/tasks/" + encodeURIComponent(ns) + "/" + encodeURIComponent(name) + "/log?tail=500", true)
      .then(text => { mine.text = text || "(the log is empty)"; })
      .catch(e => { mine.text = e.message; mine.failed = true; })
      .finally(() => { if (logState === mine) paint(); });
  };
  // A live redraw keeps the log read; opening the page reads it again.
  if (live && logState && logState.key === key) paint();
  else loadLog();
  return [
    el("h1", {}, "Task ", key),
    fields([
      ["State", badge(t.state)],
      t.reason ? ["Reason", t.reason] : null,
      t.source ? ["Source", t.source] : null,
      t.message ? ["Message", t.message] : null,
      ["Framework", link(frameworkHref(ns, t.framework), t.framework)],
      ["Agent", t.node ? link(agentHref(t.node), t.node) : (t.agentID || "–")],
      ["Executor", t.executorID || "–"],
      ["Pod", t.pod || "–"],
      t.healthy !== undefined ? ["Healthy", t.healthy ? "yes" : "no"] : null,
      ["Resources", resources(t.resources)],
      t.killRequested ? ["Kill", "asked; the agent kills it"] : null,
    ]),
    el("h2", {}, "State history"),
    table([
      { title: "Step", cell: h => h.event },
      { title: "At", cell: h => when(h.at) },
      { title: "State", cell: h => h.state ? badge(h.state) : "" },
      { title: "Reason", cell: h => h.reason || "" },
      { title: "Source", cell: h => h.source || "" },
      { title: "Message", cell: h => el("span", { class: "msg" }, h.message || "") },
    ], t.history || [], "Not staged yet."),
    el("h2", {}, "Log ", el("button", { type: "button", class: "btn", id: "reload-log", onclick: loadLog }, "Reload")),
    logBox,
  ];
}

// logState is the task log last read: which task, its text, and whether
// it could not be read.
let logState = null;

async function rolesPage() {
  const roles = await api("/api/v1/roles");
  return [
    el("h1", {}, "Roles"),
    table([
      { title: "Role", cell: r => r.name },
      { title: "Weight", num: true, cell: r => String(r.weight) + (r.configured ? "" : " (default)") },
      { title: "Frameworks", num: true, cell: r => String(r.frameworks) },
      { title: "Allocated", cell: r => resources(r.allocated) },
      { title: "Dominant share", cell: r => [bar(r.dominantShare), percent(r.dominantShare)] },
      { title: "Weighted share", num: true, cell: r => percent(r.weightedShare) },
    ], roles.map(r => Object.assign({ __key: r.name }, r)), "No roles."),
    el("p", { class: "muted" }, "DRF offers first to the role with the least weighted share (dominant share ÷ weight)."),
  ];
}

function loginPage() {
  disconnect();
  userBox.textContent = "";
  logoutButton.hidden = true;
  const box = el("textarea", { id: "token", name: "token", placeholder: "eyJhbGciOi…", required: true, autocomplete: "off" });
  const err = el("p", { class: "error", id: "login-error", hidden: true });
  const form = el("form", { class: "login card", id: "login", onsubmit: async e => {
    e.preventDefault();
    err.hidden = true;
    const r = await fetch("/login", { method: "POST", body: new URLSearchParams({ token: box.value.trim() }), credentials: "same-origin" });
    if (!r.ok) {
      let msg = r.statusText;
      try { msg = (await r.json()).message || msg; } catch (x) { /* not JSON */ }
      err.textContent = msg;
      err.hidden = false;
      return;
    }
    start();
  } },
  el("h1", {}, "Log in to the kubemesos console"),
  el("p", {}, "Paste a Kubernetes token. You will see the namespaces it may read, nothing else. For a service account: ",
    el("code", {}, "kubectl create token NAME -n NAMESPACE"), "; or run ", el("code", {}, "kubectl mesos console"), ", which needs no login."),
  box, err, el("p", {}, el("button", { type: "submit", class: "btn", id: "login-submit" }, "Log in")));
  show(form);
  main.dataset.page = "login";
}

// ---- live updates ------------------------------------------------------

let source = null;
let reloadTimer = null;
let lastReload = 0;

function connect() {
  if (source) return;
  source = new EventSource("/api/v1/events");
  source.addEventListener("open", () => { liveBadge.className = "live on"; liveBadge.textContent = "live"; });
  source.addEventListener("overview", e => {
    lastOverview = JSON.parse(e.data);
    liveBadge.className = "live on";
    liveBadge.textContent = "live · cycle " + lastOverview.cycle;
    liveBadge.dataset.cycle = String(lastOverview.cycle);
    const name = route().parts[0] || "";
    if (name === "") { draw(true); return; }
    scheduleReload();
  });
  source.addEventListener("error", () => {
    liveBadge.className = "live off";
    liveBadge.textContent = "reconnecting";
    // EventSource retries by itself, unless the answer was not a stream
    // (401 after a logout or an expired token): then ask who we are.
    if (source && source.readyState === EventSource.CLOSED) {
      source = null;
      setTimeout(start, 3000);
    }
  });
}

function disconnect() {
  if (source) { source.close(); source = null; }
  liveBadge.className = "live off";
  liveBadge.textContent = "offline";
}

// lastKey is when the viewer last typed in a field.
let lastKey = 0;
document.addEventListener("keydown", e => {
  if (e.target && /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) lastKey = Date.now();
});

// scheduleReload reloads the page shown, at most every two seconds, and
// not while the viewer types in it (a key pressed in a field in the last
// two seconds).
function scheduleReload() {
  if (reloadTimer) return;
  const wait = Math.max(0, 2000 - (Date.now() - lastReload));
  reloadTimer = setTimeout(() => {
    reloadTimer = null;
    if (document.hidden) return;
    if (Date.now() - lastKey < 2000) { scheduleReload(); return; }
    lastReload = Date.now();
    draw(true);
  }, wait);
}

// ---- start -------------------------------------------------------------

async function start() {
  try {
    const me = await api("/api/v1/whoami");
    userBox.textContent = me.user;
    // A viewer whose token a proxy such as `kubectl mesos console` adds
    // has no session to end.
    logoutButton.hidden = !me.session;
  } catch (e) {
    if (e instanceof APIError && e.code === 401) { if (e.proxied) refused(e); else loginPage(); return; }
    show(el("h1", {}, "The console is not available"), el("p", { class: "error", id: "error" }, e.message));
    setTimeout(start, 5000);
    return;
  }
  connect();
  draw(false);
}

logoutButton.addEventListener("click", async () => {
  await fetch("/logout", { method: "POST", credentials: "same-origin" });
  lastOverview = null;
  start();
});

window.addEventListener("hashchange", () => {
  if (main.dataset.page === "login" || main.dataset.page === "refused") return;
  draw(false);
});

start();
