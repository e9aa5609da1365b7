// Opens report.html from disk in Debian's Chromium (headless) with playwright-core, blocking every
// request that is not the page itself, and prints what it found as JSON: each figure's chart name,
// its inline SVG's rendered size and element count, images (and whether they loaded), and any
// request the page tried to make beyond its own file.
//
// node report.cjs <playwright-core dir> <report.html> <user-data-dir>
"use strict";
const [pwDir, file, userDataDir] = process.argv.slice(2);
const { chromium } = require(pwDir);

(async () => {
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.LIQSIM_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1200, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const out = { external_requests: [], page_errors: [] };
  try {
    const page = context.pages()[0] || (await context.newPage());
    const url = "file://" + file;
    page.on("pageerror", (e) => out.page_errors.push(String(e)));
    await page.route("**/*", (route) => {
      const u = route.request().url();
      if (u === url) return route.continue();
      out.external_requests.push(u);
      return route.abort();
    });
    await page.goto(url, { waitUntil: "load" });
    out.figures = await page.$$eval("figure", (figs) => figs.map((f) => {
      const svg = f.querySelector("svg");
      const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
      return {
        chart: f.dataset.chart,
        width: box.width,
        height: box.height,
        elements: svg ? svg.querySelectorAll("*").length : 0,
        text: svg ? svg.querySelectorAll("text").length : 0,
        caption: (f.querySelector("figcaption") || {}).textContent || "",
      };
    }));
    out.images = await page.$$eval("img", (imgs) => imgs.map((i) => ({ src: i.src, ok: i.complete && i.naturalWidth > 0 })));
    out.title = await page.title();
    out.methodology = await page.$$eval("dt", (d) => d.map((x) => x.textContent));
  } finally {
    await context.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
})().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + "\n");
  process.exit(1);
});
