// orderflow console: polls the JSON endpoints and fills in the server-rendered pages.
// No framework, no build step. Everything shown from the APIs goes through textContent.
"use strict";

const EVERY = 1500;
const page = document.body.dataset.page;
const readOnly = document.body.dataset.readonly === "true";

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

async function getJSON(url) {
  const r = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await r.json();
  if (!r.ok) throw new Error((body.error && body.error.message) || r.statusText);
  return body;
}

async function postJSON(url, data) {
  const r = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Orderflow-Console": "1" },
    body: JSON.stringify(data),
  });
  const body = await r.json();
  if (!r.ok) throw new Error((body.error && body.error.message) || r.statusText);
  return body;
}

// poll runs fn now and then every EVERY ms, one at a time; the header dot shows health.
function poll(fn) {
  const dot = document.getElementById("live");
  const tick = async () => {
    try {
      await fn();
      dot.classList.remove("stale");
      dot.title = "refreshed " + new Date().toLocaleTimeString();
    } catch (err) {
      dot.classList.add("stale");
      dot.title = "refresh failed: " + err.message;
    }
    setTimeout(tick, EVERY);
  };
  tick();
}

function age(seconds) {
  if (seconds < 60) return Math.max(0, Math.floor(seconds)) + "s";
  if (seconds < 3600) return Math.floor(seconds / 60) + "m" + String(Math.floor(seconds % 60)).padStart(2, "0") + "s";
  if (seconds < 172800) return Math.floor(seconds / 3600) + "h" + String(Math.floor((seconds % 3600) / 60)).padStart(2, "0") + "m";
  return Math.floor(seconds / 86400) + "d";
}

function clock(iso) {
  const d = new Date(iso);
  if (isNaN(d) || d.getFullYear() < 2000) return "";
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function duration(ms) {
  if (!ms) return "";
  if (ms < 1000) return Math.round(ms) + " ms";
  if (ms < 60000) return (ms / 1000).toFixed(2) + " s";
  return age(ms / 1000);
}

function statusBadge(status, reason) {
  const s = el("span", {}, el("span", { class: "status " + status, text: status }));
  if (reason) s.append(el("span", { class: "reason", text: reason }));
  return s;
}

function setText(id, v) {
  const e = document.getElementById(id);
  if (e) e.textContent = v;
}

function showErrors(list) {
  const e = document.getElementById("errors");
  if (!e) return;
  e.hidden = !list || list.length === 0;
  e.textContent = (list || []).join("\n");
}

// ---- flow
const lastCounter = {};
async function refreshFlow() {
  const s = await getJSON("/api/counters");
  for (const [id, text] of Object.entries(s.counters)) {
    const t = document.getElementById("c-" + id);
    if (!t) continue;
    const node = document.getElementById("n-" + id);
    if (lastCounter[id] !== undefined && lastCounter[id] !== text && node) {
      node.classList.add("bump");
      setTimeout(() => node.classList.remove("bump"), 900);
    }
    lastCounter[id] = text;
    t.textContent = text;
  }
  for (const node of document.querySelectorAll(".flow .node")) {
    node.classList.toggle("alert", !!s.alert[node.dataset.id]);
  }
  const o = s.orders || {};
  const terminal = (o.CONFIRMED || 0) + (o.CANCELLED || 0) + (o.REJECTED || 0);
  setText("s-orders", s.orderTotal);
  setText("s-flight", s.orderTotal - terminal);
  setText("s-confirmed", o.CONFIRMED || 0);
  setText("s-cancelled", o.CANCELLED || 0);
  setText("s-rejected", o.REJECTED || 0);
  setText("s-running", (s.executions && s.executions.RUNNING) || 0);
  setText("s-dlq", s.dlqTotal || 0);
  showErrors(s.errors);
}

// ---- orders
async function refreshOrders() {
  const q = document.getElementById("q").value.trim();
  const status = document.getElementById("status").value;
  const data = await getJSON("/api/orders?" + new URLSearchParams({ q, status }));
  const tbody = document.querySelector("#orders tbody");
  const rows = data.orders.map((o) =>
    el("tr", { "data-order": o.id, "data-status": o.status },
      el("td", {}, el("code", {}, el("a", { href: "/orders/" + encodeURIComponent(o.id), text: o.id }))),
      el("td", { text: o.customer }),
      el("td", {}, statusBadge(o.status, o.reason)),
      el("td", { class: "num", text: o.total }),
      el("td", { class: "num", text: String(o.lines) }),
      el("td", { text: clock(o.createdAt) }),
      el("td", { class: "num", text: age(o.ageSeconds) })));
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: "7", class: "muted", text: q ? "no order or customer " + q : "no orders yet" })));
  tbody.replaceChildren(...rows);
  setText("order-count", data.orders.length + " shown of " + data.total);
}

// ---- one order
async function refreshOrder() {
  const id = document.body.dataset.order;
  const tl = await getJSON("/api/orders/" + encodeURIComponent(id));
  const o = tl.order;
  const cell = (label, value) => el("div", {}, el("span", { text: label }), typeof value === "string" ? el("b", { text: value }) : value);
  document.getElementById("order-head").replaceChildren(
    cell("status", statusBadge(o.status, o.reason)), cell("customer", o.customer), cell("total", o.total),
    cell("created", clock(o.createdAt)), cell("updated", clock(o.updatedAt)),
    cell("execution", tl.execution || "–"));
  const stopped = document.getElementById("stopped");
  stopped.hidden = !tl.stopped;
  stopped.textContent = tl.stopped ? "Stopped: " + tl.stopped : "";
  const items = tl.steps.map((s) =>
    el("li", { class: s.status, "data-kind": s.kind },
      el("span", { class: "t", text: clock(s.at) }),
      el("span", { class: "dot" }),
      el("div", {}, el("div", { class: "title" }, el("span", { class: "kindtag", text: s.kind }), s.title),
        s.detail ? el("div", { class: "d", text: s.detail }) : null),
      el("span", { class: "dur", text: duration(s.durationMs) })));
  document.getElementById("timeline").replaceChildren(...items);
  showErrors(tl.errors);
}

// ---- DLQs
async function refreshDLQs() {
  const data = await getJSON("/api/dlqs");
  const cards = data.dlqs.map((d) => {
    const btn = el("button", { class: "danger", type: "button", "data-queue": d.name, text: "Redrive" });
    btn.disabled = data.readOnly || !d.redrivable || d.depth === 0;
    btn.title = data.readOnly ? "read-only console" : d.name.startsWith("s3://") ? "stream batches: orderflow dlq redrive " + d.name.split("/aws/lambda/")[0] + " invokes the function again" : !d.redrivable ? "no single source queue: these are EventBridge or Lambda failure records" : "move every message back to " + d.sources[0];
    btn.addEventListener("click", () => redrive(d));
    const msgs = el("ul", { class: "msgs" }, ...d.messages.map((m) =>
      el("li", {}, el("span", { class: "why", text: m.reason }), " · sent " + clock(m.sentAt) + " · receives " + m.receives,
        el("code", { text: m.body }))));
    return el("article", { class: "dlq" + (d.depth > 0 ? " full" : ""), "data-queue": d.name },
      el("header", {},
        el("div", {}, el("h2", { text: d.name }),
          el("div", { class: "meta", text: (d.sources.length ? "from " + d.sources.join(", ") : "failure destination") +
            (d.oldestSeconds ? " · oldest " + age(d.oldestSeconds) : "") + (d.inFlight ? " · in flight " + d.inFlight : "") })),
        el("span", { class: "spacer" }),
        el("span", { class: "depth", "data-depth": String(d.depth), text: String(d.depth) }),
        btn),
      d.messages.length ? msgs : null);
  });
  if (cards.length === 0) cards.push(el("p", { class: "muted", text: "no dead-letter queues found" }));
  document.getElementById("dlqs").replaceChildren(...cards);
}

async function redrive(d) {
  if (!window.confirm("Move " + d.depth + " message(s) from " + d.name + " back to " + d.sources[0] + "?")) return;
  const out = document.getElementById("redrive-result");
  out.hidden = false;
  try {
    const r = await postJSON("/api/dlqs/redrive", { queue: d.name });
    out.className = "notice" + (r.error ? " bad" : "");
    out.textContent = "moved " + r.moved + " message(s) from " + r.from + " to " + r.to + (r.error ? " — " + r.error : "");
  } catch (err) {
    out.className = "notice bad";
    out.textContent = err.message;
  }
  await refreshDLQs();
}

// ---- load and faults
async function refreshLoad() {
  const s = await getJSON("/api/load");
  const start = document.getElementById("load-start");
  start.disabled = s.readOnly || s.state === "running";
  if (s.state === "idle") return;
  const pct = s.total ? Math.round((100 * s.done) / s.total) : 0;
  document.getElementById("load-bar").style.width = pct + "%";
  setText("load-status", (s.state === "running" ? "running: " : "done: ") + s.done + "/" + s.total + " orders · " +
    s.rate.toFixed(1) + " orders/s · " + s.expected + " ended as expected" + (s.error ? " · " + s.error : ""));
  document.getElementById("load-status").dataset.state = s.state;
  const chips = Object.entries(s.results || {}).sort((a, b) => b[1] - a[1]).map(([k, v]) => el("span", { class: "chip", text: k + " " + v }));
  document.getElementById("load-results").replaceChildren(...chips);
  const bins = s.histogram || [];
  const peak = Math.max(1, ...bins.map((b) => b.count));
  document.getElementById("histogram").replaceChildren(...bins.map((b) => {
    const c = el("div", { class: "col", title: b.fromMs + "–" + b.toMs + " ms: " + b.count });
    c.style.height = (100 * b.count) / peak + "%";
    return c;
  }));
  setText("load-pct", bins.length ? "p50 " + s.p50Ms + " ms · p95 " + s.p95Ms + " ms · p99 " + s.p99Ms + " ms" : "");
}

async function refreshFaults() {
  const f = await getJSON("/api/faults");
  const box = document.getElementById("faults");
  if (!f.enabled) {
    box.replaceChildren(el("p", { class: "muted", text: "No faults injected. Start the stack with `orderflow local up --faults standard` (or a spec file) to see AWS errors, crashes and duplicate deliveries here." }));
    return;
  }
  const spec = f.spec;
  const rules = (spec.errors || []).map((r) => el("li", { text: (r.service || "*") + (r.operation ? ":" + r.operation : "") +
    (r.resource ? " on " + r.resource : "") + " — " + Math.round(r.rate * 100) + "% " + (r.kind || "throttle or 5xx") }));
  const dup = spec.duplicate || {};
  box.replaceChildren(el("div", { class: "faults" },
    el("p", { class: "muted", text: "seed " + (spec.seed || 0) + " · the same seed replays the same faults" }),
    el("h2", { text: "Rules" }), el("ul", {}, ...rules),
    el("dl", {},
      el("dt", { text: "crashes" }), el("dd", { text: Math.round((spec.crash && spec.crash.rate || 0) * 100) + "% of invokes" }),
      el("dt", { text: "duplicates" }), el("dd", { text: "sqs " + (dup.sqs || 0) + " · kinesis " + (dup.kinesis || 0) + " · eventbridge " + (dup.eventbridge || 0) }),
      el("dt", { text: "latency" }), el("dd", { text: Math.round((spec.latency && spec.latency.rate || 0) * 100) + "% of calls" })),
    el("h2", { text: "Injected so far" }),
    el("ul", { id: "fault-stats" }, ...(f.summary || []).map((l) => el("li", { text: l })))));
}

function startLoadForm() {
  const form = document.getElementById("load-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await postJSON("/api/load", {
        orders: Number(document.getElementById("load-orders").value),
        concurrency: Number(document.getElementById("load-concurrency").value),
        mix: document.getElementById("load-mix").value,
      });
      setText("load-status", "starting…");
    } catch (err) {
      setText("load-status", err.message);
    }
  });
}

switch (page) {
  case "flow":
    poll(refreshFlow);
    break;
  case "orders": {
    const form = document.getElementById("order-filter");
    form.addEventListener("submit", (ev) => { ev.preventDefault(); refreshOrders(); });
    document.getElementById("status").addEventListener("change", refreshOrders);
    document.getElementById("q").addEventListener("input", refreshOrders);
    poll(refreshOrders);
    break;
  }
  case "order":
    poll(refreshOrder);
    break;
  case "dlqs":
    poll(refreshDLQs);
    break;
  case "load":
    startLoadForm();
    poll(async () => { await refreshLoad(); await refreshFaults(); });
    break;
}
