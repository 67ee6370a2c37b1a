#!/usr/bin/env node
/*
 * Browser test of the demo page: the real typeahead-serve over a trie built here by the
 * real typeahead-build, driven in headless Debian chromium through playwright-core.
 *
 * Checks what a user would: the page loads with nothing from outside; typing a prefix one
 * character at a time shows exactly /search's answer for that prefix; the typed lead is
 * highlighted (and server text is shown as text, never parsed as HTML); ArrowDown/ArrowUp move
 * the active option with the WAI-ARIA combobox attributes in step; Enter fills the box; Escape
 * closes the list. With one trie there is no market selector; with --trie-dir and two markets
 * (SPEC §10) there is one, and the list shows the chosen market's answer. Saves screenshots
 * (OUT/demo.png, OUT/demo-markets.png). Chromium failing to start is a failure.
 *
 * Usage: node test_demo.js --build BIN --serve BIN --out DIR   (NODE_PATH has playwright-core)
 */
"use strict";

const { spawn, spawnSync } = require("child_process");
const fs = require("fs");
const net = require("net");
const os = require("os");
const path = require("path");
const assert = require("assert/strict");

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
  "--no-first-run", "--disable-background-networking", "--disable-component-update",
  "--disable-sync"];

/* Hand-made frequency list: enough completions of "go" to fill five rows and rank them,
 * spellings with case and accents, and a query that looks like HTML. */
const FREQ = [
  ["google", 5118], ["google maps", 900], ["Google Earth", 700], ["golf", 300], ["gmail", 600],
  ["good morning america", 260], ["goodwill", 120], ["gotham city", 90], ["go karts", 40],
  ["ebay", 3000], ["yahoo", 2900], ["myspace", 2500], ["mapquest", 1200],
  ["new york", 1000], ["new york times", 800], ["newark airport", 150], ["news", 700],
  ["Café au lait", 60], ["cafeteria menu", 50], ["Straße 12", 30], ["naïve art", 20],
  ["<b>bold</b> & <i>co</i>", 45], ["<img src=x onerror=alert(1)>", 44],
];

function parseArgs(argv) {
  const out = {};
  for (let i = 2; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--") || i + 1 >= argv.length) throw new Error("bad argument " + argv[i]);
    out[argv[i].slice(2)] = argv[i + 1];
  }
  for (const k of ["build", "serve", "out"]) if (!out[k]) throw new Error("missing --" + k);
  return out;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitHealthy(base, proc, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (proc.exitCode !== null) throw new Error("typeahead-serve exited with " + proc.exitCode);
    try {
      const r = await fetch(base + "/healthz");
      if (r.status === 200) return;
    } catch (e) { /* not listening yet */ }
    await sleep(100);
  }
  throw new Error("typeahead-serve did not become healthy in " + ms + " ms");
}

/* Writes rows as a frequency list beside out and builds the trie out with the real builder. */
function buildTrie(build, rows, out) {
  const freq = out + ".tsv";
  fs.writeFileSync(freq, rows.map(([q, c]) => q + "\t" + c + "\n").join(""));
  const b = spawnSync(build, ["--freq", freq, "--out", out, "--k", "10"], { encoding: "utf8" });
  assert.equal(b.status, 0, "typeahead-build failed: " + b.stderr);
}

/* Starts typeahead-serve on what it serves (["--trie", FILE] or ["--trie-dir", DIR]) and a free
 * port; the process goes into servers at once (for the cleanup); resolves to its base URL once
 * it is healthy. */
async function serve(bin, what, servers) {
  const port = await freePort();
  const proc = spawn(bin, what.concat(["--listen", "127.0.0.1:" + port]),
    { stdio: ["ignore", "inherit", "inherit"] });
  servers.push(proc);
  await waitHealthy("http://127.0.0.1:" + port, proc, 10000);
  return "http://127.0.0.1:" + port;
}

async function apiTexts(base, q, market) {
  const url = base + "/search?q=" + encodeURIComponent(q) + (market ? "&market=" + market : "");
  const r = await fetch(url);
  assert.equal(r.status, 200, url);
  const body = await r.json();
  return body.suggestions.map((s) => s.text);
}

/* Polls fn() until it returns a value deepEqual to want; fails with the last value seen. */
async function eventually(fn, want, what, ms = 5000) {
  const end = Date.now() + ms;
  let got;
  for (;;) {
    got = await fn();
    try { assert.deepEqual(got, want); return; } catch (e) { if (Date.now() > end) break; }
    await sleep(25);
  }
  assert.deepEqual(got, want, what);
}

async function main() {
  const args = parseArgs(process.argv);
  fs.mkdirSync(args.out, { recursive: true });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "ta-browser-"));
  const servers = [];
  let context = null;
  try {
    const trie = path.join(work, "demo.trie");
    buildTrie(args.build, FREQ, trie);
    const base = await serve(args.serve, ["--trie", trie], servers);

    const { chromium } = require("playwright-core");
    const profile = fs.mkdtempSync(path.join(work, "profile-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS,
      viewport: { width: 760, height: 520 }, deviceScaleFactor: 1,
    });
    const page = context.pages()[0] || await context.newPage();
    const foreign = [];
    page.on("request", (req) => { if (!req.url().startsWith(base + "/")) foreign.push(req.url()); });
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    /* A script that user or server text managed to inject would set this. */
    await page.addInitScript(() => { window.alert = () => { window.__injected = true; }; });

    const res = await page.goto(base + "/", { waitUntil: "load" });
    assert.equal(res.status(), 200, "GET /");
    assert.match(res.headers()["content-type"] || "", /^text\/html/);
    const html = await res.text();
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|@import|url\(\s*['"]?https?:/i,
      "page must be self-contained");

    const box = page.locator("input[role=combobox]");
    const listbox = page.locator("[role=listbox]");
    assert.equal(await box.count(), 1, "one combobox");
    const controls = await box.getAttribute("aria-controls");
    assert.equal(await listbox.getAttribute("id"), controls, "aria-controls names the listbox");
    assert.equal(await box.getAttribute("aria-expanded"), "false");
    assert.equal(await box.getAttribute("aria-autocomplete"), "list");
    assert.ok(await box.getAttribute("aria-labelledby") || await box.getAttribute("aria-label"),
      "combobox has an accessible name");

    const shown = () => page.$$eval("[role=listbox]:not([hidden]) [role=option]",
      (els) => els.map((e) => e.querySelector(".text").textContent));
    const expanded = () => box.getAttribute("aria-expanded");

    /* One character at a time: after each, the list shows exactly /search's answer. */
    await box.click();
    const prefix = "goo";
    for (let i = 1; i <= prefix.length; i++) {
      await page.keyboard.type(prefix[i - 1]);
      const want = await apiTexts(base, prefix.slice(0, i));
      assert.ok(want.length > 0, "fixture has completions of " + prefix.slice(0, i));
      await eventually(shown, want, "suggestions for '" + prefix.slice(0, i) + "'");
      assert.equal(await expanded(), "true");
    }
    assert.equal((await shown()).length, 5, "five suggestions by default");

    /* The typed lead is highlighted, the rest is plain text. */
    const marks = () => page.$$eval("[role=option]", (els) => els.map((e) => {
      const m = e.querySelector("mark");
      return m ? m.textContent : null;
    }));
    const wantGoo = await apiTexts(base, "goo");
    await eventually(marks, wantGoo.map((t) => t.slice(0, 3)), "typed lead highlighted");

    /* Keyboard: ArrowDown, ArrowDown, ArrowUp; the ARIA state follows. */
    const ariaState = () => page.evaluate(() => {
      const input = document.querySelector("input[role=combobox]");
      const opts = Array.from(document.querySelectorAll("[role=option]"));
      const selected = opts.map((o, i) => (o.getAttribute("aria-selected") === "true" ? i : -1))
        .filter((i) => i >= 0);
      const ad = input.getAttribute("aria-activedescendant");
      return { selected, active: ad ? opts.findIndex((o) => o.id === ad) : -1,
        idsUnique: new Set(opts.map((o) => o.id)).size === opts.length,
        inListbox: opts.every((o) => o.parentElement.getAttribute("role") === "listbox") };
    });
    let st = await ariaState();
    assert.deepEqual(st.selected, [], "nothing selected before the arrows");
    assert.equal(st.active, -1);
    assert.ok(st.idsUnique && st.inListbox, "options have unique ids inside the listbox");
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("ArrowDown");
    st = await ariaState();
    assert.deepEqual(st.selected, [1], "two ArrowDowns select the second option");
    assert.equal(st.active, 1, "aria-activedescendant follows");
    await page.keyboard.press("ArrowUp");
    st = await ariaState();
    assert.deepEqual(st.selected, [0], "ArrowUp goes back to the first");
    assert.equal(st.active, 0);
    assert.equal(await box.inputValue(), "goo", "moving does not change the box");
    await page.keyboard.press("ArrowUp");
    st = await ariaState();
    assert.deepEqual(st.selected, [wantGoo.length - 1], "ArrowUp from the first wraps to the last");
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("ArrowDown");
    await page.screenshot({ path: path.join(args.out, "demo.png") });

    /* Enter fills the box with the active suggestion and closes the list. */
    await page.keyboard.press("Enter");
    assert.equal(await box.inputValue(), wantGoo[1], "Enter fills the box");
    assert.equal(await expanded(), "false", "Enter closes the list");
    assert.equal(await box.getAttribute("aria-activedescendant"), null);
    await sleep(300);
    assert.equal(await expanded(), "false", "no late answer reopens the list");

    /* Escape closes an open list and leaves the text. */
    await box.fill("");
    await page.keyboard.type("new", { delay: 20 });
    await eventually(shown, await apiTexts(base, "new"), "suggestions for 'new'");
    await page.keyboard.press("Escape");
    assert.equal(await expanded(), "false", "Escape closes the list");
    assert.equal(await listbox.isVisible(), false, "listbox hidden after Escape");
    assert.equal(await box.inputValue(), "new", "first Escape keeps the text");

    /* Fast typing (faster than the debounce): only the last prefix's answer is shown. */
    await box.fill("");
    await page.keyboard.type("new york t", { delay: 5 });
    await eventually(shown, await apiTexts(base, "new york t"), "answer for the last keystroke");
    await page.keyboard.press("Backspace");
    await page.keyboard.press("Backspace");
    await eventually(shown, await apiTexts(base, "new york"), "answer after Backspace");

    /* Typing a prefix again: answered from the browser's HTTP cache (the server sends
     * Cache-Control: public, max-age), the list must still be right. */
    const head = await fetch(base + "/search?q=goo");
    assert.match(head.headers.get("cache-control") || "", /max-age=\d+/, "cacheable answers");
    await box.fill("");
    await page.keyboard.type("goo", { delay: 20 });
    await eventually(shown, wantGoo, "suggestions for 'goo' again");

    /* Case and accents: the key matches, the highlight only covers a literal lead. */
    await box.fill("");
    await page.keyboard.type("CAF", { delay: 20 });
    const wantCaf = await apiTexts(base, "CAF");
    await eventually(shown, wantCaf, "suggestions for 'CAF'");
    const cafMarks = await page.$$eval("[role=option] mark", (els) => els.map((e) => e.textContent));
    assert.deepEqual(cafMarks, wantCaf.map((t) => t.slice(0, 3)), "case-insensitive lead");
    await page.keyboard.type("e");
    const wantCafe = await apiTexts(base, "CAFE");
    assert.ok(wantCafe.includes("Café au lait"), "accent folded by the server");
    await eventually(shown, wantCafe, "suggestions for 'CAFE'");
    /* Same texts as for CAF, so wait for the new highlight rather than the new list. */
    await eventually(marks, wantCafe.map((t) => t.slice(0, 4)),
      "folded text highlighted too: the server's spans (SPEC §15), Caf\u00e9 for CAFE");

    /* Typo and word matches (SPEC §15): bolded where they matched. */
    const allMarks = () => page.$$eval("[role=option]", (els) => els.map((e) =>
      [e.querySelector(".text").textContent, e.getAttribute("data-match"),
        Array.from(e.querySelectorAll("mark")).map((m) => m.textContent)]));
    await box.fill("");
    await page.keyboard.type("strass", { delay: 20 });
    await eventually(allMarks, [["Straße 12", null, ["Straß"]]], "strass bolds Straß of Straße");
    await box.fill("");
    await page.keyboard.type("naive", { delay: 20 });
    await eventually(allMarks, [["naïve art", null, ["naïve"]]], "naive bolds naïve");
    await box.fill("");
    await page.keyboard.type("yahpo", { delay: 20 });
    /* the shortest key part within the edits: "yaho" is one edit from "yahpo" */
    await eventually(allMarks, [["yahoo", "typo", ["yaho"]]], "a typo match, bolded");
    await box.fill("");
    await page.keyboard.type("times york", { delay: 20 });
    await eventually(allMarks, [["new york times", "words", ["york", "times"]]],
      "a word match, each word bolded");

    /* Server text that looks like HTML is shown as text. */
    await box.fill("");
    await page.keyboard.type("<", { delay: 20 });
    const wantLt = await apiTexts(base, "<");
    assert.ok(wantLt.length >= 2, "fixture has HTML-looking queries");
    await eventually(shown, wantLt, "suggestions for '<'");
    const injected = await page.evaluate(() => ({
      elements: document.querySelectorAll("#" + CSS.escape(document.querySelector("[role=listbox]").id) +
        " b, [role=listbox] i, [role=listbox] img").length,
      flag: window.__injected === true,
    }));
    assert.deepEqual(injected, { elements: 0, flag: false }, "no HTML from suggestions");

    /* Mouse: clicking an option fills the box. */
    await page.locator("[role=option]").first().click();
    assert.equal(await box.inputValue(), wantLt[0], "click fills the box");
    assert.equal(await expanded(), "false");

    assert.equal(await page.locator("#market").isVisible(), false, "no market selector, one trie");
    assert.deepEqual(foreign, [], "no request leaves the server");
    assert.deepEqual(pageErrors, [], "no script errors");

    /* Markets: global (the same trie) and de; the selector lists both, global first, and the
     * list follows the market chosen. */
    const dir = path.join(work, "tries");
    fs.mkdirSync(dir);
    fs.copyFileSync(trie, path.join(dir, "global.trie"));
    buildTrie(args.build, [["gold", 500], ["goethe", 400], ["Göteborg", 10]],
      path.join(dir, "de.trie"));
    /* with a trending trie for global: a rising "go" query, mixed in and marked; de has one of
     * its own, without "go" (de's answer stays its own) */
    const tdir = path.join(work, "trending");
    fs.mkdirSync(tdir);
    buildTrie(args.build, [["gondola ride", 90]], path.join(tdir, "global.trie"));
    buildTrie(args.build, [["zugspitze", 90]], path.join(tdir, "de.trie"));
    const base2 = await serve(args.serve, ["--trie-dir", dir, "--trending", tdir], servers);
    const page2 = await context.newPage();
    page2.on("pageerror", (e) => pageErrors.push(String(e)));
    assert.equal((await page2.goto(base2 + "/", { waitUntil: "load" })).status(), 200);
    const sel = page2.locator("select#market");
    await sel.waitFor({ state: "visible", timeout: 5000 });
    assert.deepEqual(await sel.locator("option").allTextContents(), ["global", "de"]);
    const shown2 = () => page2.$$eval("[role=listbox]:not([hidden]) [role=option]",
      (els) => els.map((e) => e.querySelector(".text").textContent));
    await sel.selectOption("de");
    await page2.locator("input[role=combobox]").click();
    await page2.keyboard.type("go", { delay: 20 });
    const wantDe = await apiTexts(base2, "go", "de");
    assert.deepEqual(wantDe.slice(0, 3), ["gold", "goethe", "Göteborg"], "de's own first");
    assert.notDeepEqual(wantDe, await apiTexts(base2, "go"), "de answers otherwise than global");
    await eventually(shown2, wantDe, "de's suggestions for 'go'");
    assert.match(await page2.locator("#status").textContent(), /from de/);
    await page2.screenshot({ path: path.join(args.out, "demo-markets.png") });
    await sel.selectOption("global");
    await eventually(shown2, await apiTexts(base2, "go"), "global's suggestions after the switch");
    /* the trending mark: on the rows the answer marks "trending", on no other */
    const api = await (await fetch(base2 + "/search?q=go")).json();
    const wantMarks = api.suggestions.map((s) => s.trending === true);
    assert.ok(wantMarks.includes(true), "a trending suggestion for 'go'");
    await eventually(() => page2.$$eval("[role=listbox]:not([hidden]) [role=option]",
      (els) => els.map((e) => e.querySelector(".trending") !== null)), wantMarks,
      "the trending mark");
    assert.deepEqual(pageErrors, [], "no script errors");
    console.log("browser_demo: ok; screenshots " + path.join(args.out, "demo.png") + ", " +
      path.join(args.out, "demo-markets.png"));
  } finally {
    if (context) await context.close().catch(() => {});
    for (const srv of servers) {
      if (srv.exitCode !== null) continue;
      srv.kill("SIGTERM");
      await new Promise((r) => { srv.once("exit", r); setTimeout(r, 3000); });
      if (srv.exitCode === null) srv.kill("SIGKILL");
    }
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error("browser_demo: FAIL: " + (e && e.stack || e)); process.exit(1); });
