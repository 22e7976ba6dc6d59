// The console: one event stream per page (GET /console/events), actions through the guarded API with
// the token kept in this tab only (sessionStorage). Every name from the agent goes in as text, never as
// HTML, so a tag called "<b>" stays a name.
"use strict";

const $ = (id) => document.getElementById(id);
const data = {}; // section -> Map(key -> row)
const spark = new Map(); // tag -> [[ms, value]], the last 5 minutes
const trends = new Map(); // loop -> [[ms, sp, pv, op]]
const SPAN_MS = 5 * 60 * 1000;
let lang = localStorage.getItem("edge-lang") || ((navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en");
let source = null;
let lastBeat = 0;
let page = "overview";
let tagFilter = { q: "", device: "" };

function t(key, args) {
  let s = (I18N[lang] && I18N[lang][key]) || I18N.en[key] || key;
  for (const [k, v] of Object.entries(args || {})) s = s.replace("{" + k + "}", v);
  return s;
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

function applyLang() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  $("lang").value = lang;
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  for (const e of document.querySelectorAll("[data-i18n-placeholder]")) e.placeholder = t(e.dataset.i18nPlaceholder);
  render();
}

// ── the stream ─────────────────────────────────────────────
function connect() {
  if (source) source.close();
  for (const k of Object.keys(data)) if (k !== "agent") delete data[k];
  const q = new URLSearchParams({ view: page });
  if (page === "tags") { q.set("q", tagFilter.q); q.set("device", tagFilter.device); }
  source = new EventSource("/console/events?" + q);
  source.onmessage = (ev) => {
    lastBeat = Date.now();
    const changes = JSON.parse(ev.data);
    for (const change of changes) apply(change);
    if (changes.length) render();
  };
}

function apply(change) {
  const rows = data[change.s] || (data[change.s] = new Map());
  for (const key of change.rm) rows.delete(key);
  for (const row of change.up) {
    rows.set(row.k, row);
    if (change.s === "tag") keepSpark(row);
    if (change.s === "loop") keepTrend(row);
  }
}

function keepSpark(row) {
  let points = spark.get(row.k);
  if (row.h) { points = row.h.slice(); spark.set(row.k, points); }
  if (!points) spark.set(row.k, points = []);
  if (typeof row.v === "number" && row.t) {
    const last = points[points.length - 1];
    // One point per 5 s, as the agent's history keeps them; the newest value stands for its bucket.
    if (last && Math.floor(last[0] / 5000) === Math.floor(row.t / 5000)) last[1] = row.v;
    else if (!last || row.t > last[0]) points.push([row.t, row.v]);
  }
  while (points.length && points[0][0] < Date.now() - SPAN_MS) points.shift();
}

function keepTrend(row) {
  const s = row.status;
  if (!s || typeof s.pv !== "number") return;
  const points = trends.get(row.k) || [];
  points.push([Date.now(), s.sp, s.pv, s.op]);
  while (points.length && points[0][0] < Date.now() - 2 * SPAN_MS) points.shift();
  trends.set(row.k, points);
}

// ── actions ────────────────────────────────────────────────
function token() { return sessionStorage.getItem("edge-token") || ""; }

async function act(method, path, body, what) {
  const headers = { "Content-Type": "application/json" };
  if (token()) headers.Authorization = "Bearer " + token();
  const msg = $("message");
  try {
    const r = await fetch(path, { method, headers, body: JSON.stringify(body) });
    const text = await r.text();
    msg.className = r.ok ? "ok" : "fail";
    msg.textContent = r.ok ? t("done", { what }) : t("refused", { code: r.status, why: text.trim() });
  } catch (e) {
    msg.className = "fail";
    msg.textContent = t("refused", { code: "-", why: String(e) });
  }
  // A pressed button keeps focus, and a focused loop card is not repainted: let go so it updates again.
  if (document.activeElement) document.activeElement.blur();
}

// ── pages ──────────────────────────────────────────────────
function rows(section) { return [...(data[section] || new Map()).values()]; }

function table(headers, body) {
  return el("table", {}, el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, t(h))))), el("tbody", {}, ...body));
}

function upDown(up) { return el("span", { class: up ? "up" : "down" }, t(up ? "up" : "down")); }

function renderOverview(main) {
  const a = (data.agent && data.agent.get("agent")) || {};
  const ring = a.ring || {};
  main.append(el("div", { class: "cards" },
    el("div", { class: "card" }, t("devices.up"), el("b", {}, `${a.devices_up ?? "-"} / ${a.devices ?? "-"}`)),
    el("div", { class: "card" }, t("ring"), el("b", {}, `${ring.depth_pct ?? "-"} %`),
      el("span", { class: "muted" }, `${t("skipped")} ${ring.skipped ?? 0} · ${ring.capacity ?? ""}`)),
    el("div", { class: "card" }, t("store"), el("b", {}, a.store ? `${a.store.records} ${t("records")}` : t("no_store"))),
    el("div", { class: "card" }, t("version"), el("b", {}, a.version || "-"), el("span", { class: "muted" }, a.config || "")),
  ));
  main.append(el("h2", {}, t("devices")), table(["name", "kind", "state", "last_error"], rows("device").map((d) =>
    el("tr", { "data-device": d.name }, el("td", {}, d.name), el("td", {}, d.kind), el("td", {}, upDown(d.up)),
      el("td", { class: "err" }, d.last_error || "")))));
  const uplinks = rows("uplink");
  main.append(el("h2", {}, t("uplinks")), uplinks.length ? table(["name", "state", "backlog", "last_error"], uplinks.map((u) =>
    el("tr", { "data-uplink": u.name }, el("td", {}, u.name), el("td", {}, upDown(u.up)), el("td", { class: "num" }, u.backlog),
      el("td", { class: "err" }, u.last_error || "")))) : el("p", { class: "muted" }, t("none")));
  main.append(el("h2", {}, t("components")), table(["kind", "name", "state", "restarts", "last_error"], rows("component").map((c) =>
    el("tr", {}, el("td", {}, c.kind), el("td", {}, c.name), el("td", {}, upDown(c.up)), el("td", { class: "num" }, c.restarts),
      el("td", { class: "err" }, c.last_error || "")))));
}

function sparkline(points, cls) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", cls || "spark");
  svg.setAttribute("viewBox", "0 0 120 24");
  svg.setAttribute("preserveAspectRatio", "none");
  if (points.length > 1) svg.append(polyline(points, 120, 24, Date.now() - SPAN_MS, Date.now()));
  return svg;
}

function polyline(points, w, h, t0, t1, lo, hi, cls) {
  if (lo === undefined) { lo = Math.min(...points.map((p) => p[1])); hi = Math.max(...points.map((p) => p[1])); }
  const span = hi - lo || 1;
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", points.map((p) =>
    `${(((p[0] - t0) / (t1 - t0)) * w).toFixed(1)},${(h - 2 - ((p[1] - lo) / span) * (h - 4)).toFixed(1)}`).join(" "));
  if (cls) line.setAttribute("class", cls);
  return line;
}

function fmtValue(v) {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) >= 100 ? 1 : 3);
  return v === undefined || v === null ? "—" : String(v);
}

function renderTags(main) {
  const meta = (data.tagmeta && data.tagmeta.get("tagmeta")) || { devices: [], matched: 0, shown: 0 };
  let filters = $("tag-filters");
  if (!filters) {
    const q = el("input", { id: "tag-q", type: "search", placeholder: t("filter.name") });
    q.value = tagFilter.q;
    let timer = null;
    q.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => { tagFilter.q = q.value; connect(); }, 300); });
    const dev = el("select", { id: "tag-device", onchange: () => { tagFilter.device = dev.value; connect(); } });
    filters = el("div", { class: "filters", id: "tag-filters" }, q, dev, el("span", { id: "tag-count", class: "muted" }));
  }
  const dev = filters.querySelector("#tag-device");
  const wanted = ["", ...meta.devices];
  if (dev.options.length !== wanted.length) {
    dev.replaceChildren(...wanted.map((d) => el("option", { value: d }, d || t("filter.device"))));
    dev.value = tagFilter.device;
  }
  filters.querySelector("#tag-count").textContent = t("tags.shown", meta);
  main.append(filters, table(["name", "device", "value", "quality", "time", "trend"], rows("tag").map((r) => {
    const q = r.q || "";
    return el("tr", { "data-tag": r.name }, el("td", {}, r.name), el("td", {}, r.device), el("td", { class: "num" }, fmtValue(r.v)),
      el("td", { class: "q-" + q }, q + (r.reason ? ": " + r.reason : "")),
      el("td", { class: "muted" }, r.t ? new Date(r.t).toLocaleTimeString() : ""),
      el("td", {}, sparkline(spark.get(r.k) || [])));
  })));
}

const RANK = { unacknowledged: 5, returned_unacknowledged: 4, acknowledged: 3, shelved: 2, out_of_service: 1, normal: 0 };

function renderAlarms(main) {
  const list = rows("alarm").sort((a, b) => (RANK[b.state] || 0) - (RANK[a.state] || 0) || a.tag.localeCompare(b.tag));
  if (!list.length) { main.append(el("p", { class: "muted" }, t("alarms.none"))); return; }
  const path = (a, action) => `/alarms/${encodeURIComponent(a.tag)}/${action}`;
  main.append(table(["tag", "state", "value", "conditions", "actions"], list.map((a) => el("tr", { class: "st-" + a.state, "data-alarm": a.tag },
    el("td", {}, a.tag), el("td", {}, t("st." + a.state)), el("td", { class: "num" }, fmtValue(a.value)),
    el("td", {}, (a.conditions || []).filter((c) => c.state !== "normal").map((c) => `${c.condition} (${c.priority}) ${t("st." + c.state)}`).join("; ")),
    el("td", {},
      el("button", { class: "ack", disabled: a.state.endsWith("unacknowledged") ? null : "disabled", onclick: () => act("POST", path(a, "acknowledge"), { by: "console" }, `${a.tag} ${t("ack")}`) }, t("ack")), " ",
      a.state === "shelved"
        ? el("button", { class: "unshelve", onclick: () => act("POST", path(a, "unshelve"), { by: "console" }, `${a.tag} ${t("unshelve")}`) }, t("unshelve"))
        : el("button", { class: "shelve", onclick: () => act("POST", path(a, "shelve"), { for: "1h", by: "console" }, `${a.tag} ${t("shelve")}`) }, t("shelve")))))));
}

function renderLoops(main) {
  const list = rows("loop");
  if (!list.length) { main.append(el("p", { class: "muted" }, t("loops.none"))); return; }
  for (const l of list) {
    const s = l.status || {};
    const points = trends.get(l.k) || [];
    const t1 = Date.now(), t0 = t1 - 2 * SPAN_MS;
    const trend = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    trend.setAttribute("class", "trend");
    trend.setAttribute("viewBox", "0 0 640 120");
    trend.setAttribute("preserveAspectRatio", "none");
    if (points.length > 1) {
      const vals = points.flatMap((p) => [p[1], p[2]]).filter((v) => typeof v === "number");
      const lo = Math.min(...vals), hi = Math.max(...vals);
      trend.append(polyline(points.map((p) => [p[0], p[1]]), 640, 80, t0, t1, lo, hi, "sp"),
        polyline(points.map((p) => [p[0], p[2]]), 640, 80, t0, t1, lo, hi, "pv"));
      const op = document.createElementNS("http://www.w3.org/2000/svg", "g");
      op.setAttribute("transform", "translate(0,80)");
      op.append(polyline(points.map((p) => [p[0], p[3]]), 640, 40, t0, t1, 0, 100, "op"));
      trend.append(op);
    }
    const mode = el("select", { class: "mode" }, ...["auto", "manual"].map((m) => el("option", { value: m }, t(m))));
    mode.value = s.mode || "auto";
    const sp = el("input", { class: "setpoint", type: "number", step: "any", value: s.sp ?? "" });
    const path = `/loops/${encodeURIComponent(l.name)}`;
    main.append(el("div", { class: "loop", "data-loop": l.name },
      el("div", { class: "row" }, el("b", {}, l.name), el("span", { class: "muted" }, `${l.kind} · ${t("period")} ${l.period_s} s`),
        el("span", {}, `${t("mode")}: ${s.mode ? t(s.mode) : t("not_started")}`),
        el("span", {}, `${t("sp")} ${fmtValue(s.sp)}`), el("span", {}, `${t("pv")} ${fmtValue(s.pv)}`), el("span", {}, `${t("op")} ${fmtValue(s.op)}`),
        s.fault ? el("span", { class: "err" }, `${t("fault")}: ${s.fault}`) : null),
      el("div", { class: "legend muted" }, el("i", { class: "sp" }), t("sp"), el("i", { class: "pv" }), t("pv"), el("i", { class: "op" }), t("op") + " (0–100)"),
      trend,
      el("div", { class: "row" }, t("mode"), mode, el("button", { class: "set-mode", onclick: () => act("PUT", path, { mode: mode.value }, `${l.name} ${t("mode")} ${t(mode.value)}`) }, t("apply")),
        t("setpoint"), sp, el("button", { class: "set-sp", onclick: () => act("PUT", path, { setpoint: Number(sp.value) }, `${l.name} ${t("setpoint")} ${sp.value}`) }, t("apply")))));
  }
}

let configText = null;
function renderConfig(main) {
  main.append(el("p", { class: "muted" }, t("config.note")), el("pre", { id: "config-text" }, configText ?? t("loading")));
  if (configText === null) fetch("/console/config").then((r) => r.text()).then((text) => { configText = text; render(); });
}

function render() {
  const a = data.agent && data.agent.get("agent");
  if (a) {
    $("gateway").textContent = a.gateway;
    $("site").textContent = a.site;
    $("status").className = "badge " + a.status;
    $("status").textContent = t("status." + a.status);
    $("version").textContent = "edge-agent " + a.version;
    $("mode").textContent = !a.writes ? t("mode.off") : token() ? t("mode.write") : t("mode.read");
  }
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("on", link.hash === "#" + page);
  const main = $("page");
  // Keep the focused filter box across repaints, so typing is not interrupted.
  const keep = page === "tags" ? $("tag-filters") : null;
  if (page === "tags" && document.activeElement && document.activeElement.closest("tr")) return;
  if (page === "loops" && document.activeElement && document.activeElement.closest(".loop")) return;
  main.replaceChildren();
  if (keep) main.append(keep);
  const fresh = el("div");
  ({ overview: renderOverview, tags: renderTags, alarms: renderAlarms, loops: renderLoops, config: renderConfig })[page](fresh);
  if (keep) { fresh.querySelector("#tag-filters")?.remove(); main.replaceChildren(keep, ...fresh.childNodes); }
  else main.append(...fresh.childNodes);
}

function tick() {
  const a = data.agent && data.agent.get("agent");
  if (a) {
    const s = Math.max(0, Math.floor((Date.now() - a.started_ms) / 1000));
    $("uptime").textContent = `${Math.floor(s / 86400)}d ${String(Math.floor(s / 3600) % 24).padStart(2, "0")}:${String(Math.floor(s / 60) % 60).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
  }
  const live = $("live");
  const stale = Date.now() - lastBeat > 5000;
  live.className = "live" + (stale ? " stale" : "");
  live.textContent = stale ? t("live.lost") : "● " + t("live.ok");
}

function route() {
  const want = (location.hash || "#overview").slice(1);
  page = ["overview", "tags", "alarms", "loops", "config"].includes(want) ? want : "overview";
  if (page === "config") configText = null;
  $("page").replaceChildren();
  connect();
  render();
}

document.addEventListener("DOMContentLoaded", () => {
  $("lang").addEventListener("change", () => { lang = $("lang").value; localStorage.setItem("edge-lang", lang); applyLang(); });
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("edge-token", $("token").value);
    $("token").value = "";
    render();
  });
  $("token-clear").addEventListener("click", () => { sessionStorage.removeItem("edge-token"); render(); });
  window.addEventListener("hashchange", route);
  applyLang();
  route();
  setInterval(tick, 1000);
});
