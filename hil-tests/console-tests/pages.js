// Opens PAGES console pages (overview, tags, alarms, loops, tags, ..) in one headless chromium, prints
// each page's time from navigation to its first live data, then holds them open HOLD_S seconds so
// benches/console.sh can measure what they cost the agent.
//   AGENT_URL=http://127.0.0.1:19198 PAGES=5 HOLD_S=30 node pages.js
"use strict";

const { chromium } = require("playwright-core");
const fs = require("fs");
const os = require("os");
const path = require("path");

const base = process.env.AGENT_URL;
const pages = Number(process.env.PAGES || 5);
const hold = Number(process.env.HOLD_S || 30);
const views = ["overview", "tags", "alarms", "loops", "tags"];
const first = { overview: "tr[data-device]", tags: "tr[data-tag]", alarms: "#page", loops: "#page" };

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "edge-console-bench-"));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const loads = [];
  for (let i = 0; i < pages; i++) {
    const page = i === 0 && context.pages()[0] ? context.pages()[0] : await context.newPage();
    const view = views[i % views.length];
    const t0 = Date.now();
    await page.goto(`${base}/#${view}`);
    await page.waitForSelector(first[view], { timeout: 20000 });
    await page.waitForFunction(() => document.getElementById("version").textContent !== "");
    loads.push(Date.now() - t0);
  }
  console.log(`load to live data (ms): ${loads.join(" ")}; median ${[...loads].sort((a, b) => a - b)[Math.floor(loads.length / 2)]}`);
  console.log("open");
  await new Promise((r) => setTimeout(r, hold * 1000));
  await context.close();
  fs.rmSync(dir, { recursive: true, force: true });
})().catch((e) => { console.error(e); process.exit(1); });
