// Drives the explorer page in Debian's Chromium (headless) with playwright-core: opens the page at
// a block where a position is liquidatable, presses its "Liquidate (what-if)" button, runs the
// what-if and prints what the page shows as JSON; then checks bad input shows a clear message.
//
// node explore.cjs <playwright-core dir> <explorer URL> <block> <user> <screenshot.png> <user-data-dir>
"use strict";
const [pwDir, url, block, user, screenshot, userDataDir] = process.argv.slice(2);
const { chromium } = require(pwDir);

(async () => {
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.LIQSIM_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1500, height: 980 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const out = {};
  try {
    const page = context.pages()[0] || (await context.newPage());
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`${url}#block=${block}`);
    const row = `#positions tbody tr[data-user="${user.toLowerCase()}"]`;
    await page.waitForSelector(`${row} button.liquidate`, { timeout: 30000 });
    // filter: HF < 1 only, sorted by health factor (the default sort)
    await page.check("#filter-liq");
    await page.waitForSelector(`${row} button.liquidate`, { timeout: 30000 });
    out.filtered_rows = await page.$$eval("#positions tbody tr", (rows) => rows.length);
    out.filtered_healthy_rows = await page.$$eval("#positions tbody tr:not(.liq)", (rows) => rows.length);
    await page.click(`${row} button.liquidate`);
    await page.selectOption("#wi-amount", "max");
    await page.selectOption("#wi-funding", "own");
    await page.click("#wi-run");
    await page.waitForSelector("#wi-result [data-field=gas_used]", { timeout: 30000 });
    out.status = (await page.textContent("#wi-status")).trim();
    out.fields = await page.$$eval("#wi-result [data-field]", (els) =>
      Object.fromEntries(els.map((e) => [e.dataset.field, e.textContent.trim()])));
    out.positions_shown = await page.$$eval("#positions tbody tr", (rows) => rows.length);
    await page.screenshot({ path: screenshot, fullPage: false });
    // bad input: a block outside the window
    await page.uncheck("#filter-liq");
    await page.fill("#block", "1");
    await page.click("#go");
    await page.waitForSelector("#message.error", { timeout: 30000 });
    out.bad_block_message = (await page.textContent("#message")).trim();
    // the server still answers
    await page.fill("#block", String(block));
    await page.click("#go");
    await page.waitForSelector(`${row}`, { timeout: 30000 });
    out.after_bad_input_rows = await page.$$eval("#positions tbody tr", (rows) => rows.length);
    out.page_errors = errors;
  } finally {
    await context.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
})().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + "\n");
  process.exit(1);
});
