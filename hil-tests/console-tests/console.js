// The web console in a real browser: Debian's chromium, headless, driven by playwright-core, against an
// agent that edge-agent/tests/console.rs started on the demo config. Exits non-zero naming the first
// check that failed; prints the figures it measured as one JSON line starting with "figures:".
//   AGENT_URL=http://127.0.0.1:9100 AGENT_TOKEN=.. SECRETS='[".."]' node console.js
"use strict";

const { chromium } = require("playwright-core");
const fs = require("fs");
const os = require("os");
const path = require("path");

const base = process.env.AGENT_URL;
const token = process.env.AGENT_TOKEN;
const secrets = JSON.parse(process.env.SECRETS || "[]");
const faultDevice = process.env.FAULT_DEVICE || "conveyor";
const faultWithinMs = Number(process.env.FAULT_WITHIN_MS || 70000);
if (!base || !token || !secrets.includes(token)) throw new Error("set AGENT_URL, AGENT_TOKEN and SECRETS (with the token in it)");

const figures = {};
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

function check(ok, what) {
  if (!ok) throw new Error("FAILED: " + what);
  console.log("ok: " + what);
}

function noSecret(text, where) {
  for (const s of secrets) check(!text.includes(s), `no secret in ${where}`);
}

async function api(method, p, body, withToken) {
  const headers = { "Content-Type": "application/json" };
  if (withToken) headers.Authorization = "Bearer " + token;
  const r = await fetch(base + p, { method, headers, body: body && JSON.stringify(body) });
  return { status: r.status, text: await r.text() };
}

// What an event stream sends in `ms`: its bytes, scanned for secrets too.
async function streamFor(query, ms) {
  const ctl = new AbortController();
  const r = await fetch(`${base}/console/events?${query}`, { signal: ctl.signal });
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let text = "";
  const timer = setTimeout(() => ctl.abort(), ms);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value, { stream: true });
    }
  } catch (e) {
    if (e.name !== "AbortError") throw e;
  }
  clearTimeout(timer);
  return text;
}

async function main() {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "edge-console-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    locale: "zh-CN",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    await run(context);
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

async function run(context) {
  const page = context.pages()[0] || (await context.newPage());
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // Every response the page uses, except the endless event stream (read on its own below).
  const bodies = [];
  page.on("response", async (r) => {
    if (r.url().includes("/console/events")) return;
    try { bodies.push([r.url(), await r.text()]); } catch { /* a redirect or aborted load */ }
  });

  // ── loads, in Chinese from the browser's language ──
  const loads = [];
  for (let i = 0; i < 5; i++) {
    const t0 = Date.now();
    await page.goto(base + "/#overview");
    await page.waitForSelector("tr[data-device]");
    loads.push(Date.now() - t0);
  }
  figures.page_load_to_live_data_ms = { median: median(loads), runs: loads };
  const nav = await page.evaluate(() => performance.getEntriesByType("navigation")[0].toJSON());
  figures.dom_content_loaded_ms = Math.round(nav.domContentLoadedEventEnd);
  check((await page.textContent("nav a[href='#overview']")) === "总览", "zh-CN chosen from navigator.language");
  check(await page.isVisible("tr[data-device='灌装线']"), "a Chinese device name shown as written");
  if (process.env.DOWN_UPLINK) {
    const sel = `tr[data-uplink='${process.env.DOWN_UPLINK}']`;
    await page.waitForSelector(`${sel} .down`, { timeout: 15000 });
    check((await page.textContent(`${sel} td.err`)).length > 0, "an unreachable uplink shows down with its last error");
  }

  await page.selectOption("#lang", "en");
  check((await page.textContent("nav a[href='#overview']")) === "Overview", "the switch changes to English");
  await page.selectOption("#lang", "zh");

  // ── tags: filter, Chinese names, live value, sparkline ──
  await page.goto(base + "/#tags");
  await page.fill("#tag-q", "灌装线");
  // The filter applies once the page's new stream answers: every row then matches.
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll("tbody tr")];
    return rows.length > 0 && rows.every((r) => r.textContent.includes("灌装线"));
  }, null, { timeout: 5000 });
  await page.waitForSelector("tr[data-tag='灌装线.净重']");
  const row = await page.$$eval("tbody tr", (rs) => rs.map((r) => [...r.cells].map((c) => c.textContent)));
  check(row.length > 0 && row.every((r) => r[0].includes("灌装线") || r[1].includes("灌装线")), "the name filter keeps only matching tags");
  const weight = row.find((r) => r[0] === "灌装线.净重");
  check(weight && Math.abs(Number(weight[2]) - 500) < 10 && weight[3].startsWith("good"), "live value and quality of 灌装线.净重");
  await page.waitForFunction(() => document.querySelector("tr[data-tag='灌装线.净重'] polyline"), null, { timeout: 15000 });
  check(true, "a sparkline is drawn");
  await page.fill("#tag-q", "");
  await page.selectOption("#tag-device", "泵3");
  await page.waitForFunction(() => {
    const cells = [...document.querySelectorAll("tbody tr td:nth-child(2)")];
    return cells.length > 0 && cells.every((c) => c.textContent === "泵3");
  }, null, { timeout: 5000 });
  await page.waitForSelector("tr[data-tag='泵3.速度有效值']");
  const devices = await page.$$eval("tbody tr td:nth-child(2)", (cs) => cs.map((c) => c.textContent));
  check(devices.length > 0 && devices.every((d) => d === "泵3"), "the device filter keeps one device's tags");

  // ── a device fault shows on the overview within its scan ──
  await page.goto(base + "/#overview");
  await page.waitForSelector(`tr[data-device='${faultDevice}']`);
  const t0 = Date.now();
  let apiDownAt = null;
  const watch = (async () => {
    while (apiDownAt === null && Date.now() - t0 < faultWithinMs) {
      const h = JSON.parse((await api("GET", "/healthz")).text);
      if (h.devices.some((d) => d.name === faultDevice && !d.up)) apiDownAt = Date.now();
      else await new Promise((r) => setTimeout(r, 50));
    }
  })();
  await page.waitForSelector(`tr[data-device='${faultDevice}'] .down`, { timeout: faultWithinMs });
  const pageDownAt = Date.now();
  await watch;
  const lastError = await page.textContent(`tr[data-device='${faultDevice}'] td.err`);
  check(lastError.length > 0, `the fault's last error is shown: ${lastError}`);
  figures.fault_page_after_api_ms = apiDownAt === null ? null : pageDownAt - apiDownAt;
  // The device's scan (500 ms) and the stream's period (1 s) bound it; 2.5 s leaves room for a loaded host.
  check(apiDownAt !== null && pageDownAt - apiDownAt <= 2500, `the page shows the fault ${pageDownAt - apiDownAt} ms after /healthz does`);

  // ── an alarm acknowledged through the page: refused without the token, done with it ──
  await page.goto(base + "/#alarms");
  const alarm = "tr[data-alarm='conveyor.speed']";
  await page.waitForSelector(`${alarm}.st-unacknowledged, ${alarm}.st-returned_unacknowledged`, { timeout: 15000 });
  const before = JSON.parse((await api("GET", "/alarms", null, true)).text).alarms.find((a) => a.tag === "conveyor.speed");
  check(before && before.state.endsWith("unacknowledged"), "the bad-quality alarm stands unacknowledged");
  await page.click(`${alarm} button.ack`);
  await page.waitForSelector("#message.fail");
  check((await page.textContent("#message")).includes("401"), "acknowledging without the token is refused");
  const still = JSON.parse((await api("GET", "/alarms", null, true)).text).alarms.find((a) => a.tag === "conveyor.speed");
  check(still && still.state.endsWith("unacknowledged"), "the refused acknowledgement changed nothing");
  await page.fill("#token", token);
  await page.click("#token-set");
  check((await page.inputValue("#token")) === "", "the token field is cleared once set");
  await page.click(`${alarm} button.ack`);
  await page.waitForSelector("#message.ok");
  const after = JSON.parse((await api("GET", "/alarms?all=true", null, true)).text).alarms.find((a) => a.tag === "conveyor.speed");
  check(after && !after.state.endsWith("unacknowledged"), `acknowledged with the token: now ${after && after.state}`);
  let shown = "";
  for (let i = 0; i < 20 && (shown === "" || shown.endsWith("unacknowledged")); i++) {
    await page.waitForTimeout(250);
    shown = (await page.getAttribute(alarm, "class")) || "";
  }
  check(!shown.endsWith("unacknowledged"), `the page shows the alarm acknowledged: ${shown}`);

  // ── loops: trend and a setpoint change with the token ──
  await page.goto(base + "/#loops");
  await page.waitForSelector("[data-loop='kiln-temp'] svg.trend polyline.pv", { timeout: 10000 });
  await page.fill("[data-loop='kiln-temp'] input.setpoint", "861");
  await page.click("[data-loop='kiln-temp'] button.set-sp");
  await page.waitForSelector("#message.ok", { timeout: 10000 });
  // The loop applies it at its next tick (1 s) and publishes its status after.
  let kiln = null;
  for (let i = 0; i < 20 && !(kiln && kiln.status && kiln.status.sp === 861); i++) {
    await page.waitForTimeout(250);
    kiln = JSON.parse((await api("GET", "/loops/kiln-temp", null, true)).text);
  }
  check(kiln.status.sp === 861, `the setpoint changed through the page: ${kiln.status.sp}`);

  // ── config, and no secret anywhere ──
  await page.goto(base + "/#config");
  await page.waitForFunction(() => document.getElementById("config-text").textContent.includes("[[sim.device]]"));
  check((await page.textContent("#config-text")).includes("[redacted]"), "the config page shows redactions");
  for (const view of ["overview", "tags", "alarms", "loops", "config"]) {
    await page.goto(`${base}/#${view}`);
    await page.waitForTimeout(1500);
    noSecret(await page.content(), `the ${view} page's DOM`);
  }
  for (const [url, body] of bodies) noSecret(body, url);
  check(bodies.some(([u]) => u.endsWith("/console/config")), "the config response was among those scanned");

  // ── a page's stream: what it costs, and no secret in it ──
  const rates = {};
  for (const view of ["overview", "tags", "alarms", "loops"]) {
    const text = await streamFor(`view=${view}`, 10000);
    noSecret(text, `the ${view} event stream`);
    rates[view] = Math.round(Buffer.byteLength(text) / 10);
  }
  figures.stream_bytes_per_s = rates;
  check(Object.values(rates).every((r) => r < 8192), `every page's stream under 8 KB/s: ${JSON.stringify(rates)}`);
  check(errors.length === 0, `no script errors: ${errors.join("; ")}`);
  console.log("figures: " + JSON.stringify(figures));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
