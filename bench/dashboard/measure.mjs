// Browser half of hwnas-bench-dashboard (see dashboard_bench.cc): opens one
// search in headless Chromium (playwright-core) and measures, from the
// navigation's start, the search page's first render (summary and trial
// table on screen) and the Pareto scatter's (canvas drawn), and the time
// from a "next page" click to the new rows painted. Medians over RUNS loads.
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../dashboard/package.json', import.meta.url));
const { chromium } = require('playwright-core');
import { readFileSync } from 'node:fs';

const { DASHBOARD_URL, TOKEN_FILE, SEARCH } = process.env;
const TOKEN = readFileSync(TOKEN_FILE, 'utf8').trim();
const RUNS = +(process.env.RUNS || 5);
const note = (...a) => console.error(new Date().toISOString(), ...a);
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
await page.goto(DASHBOARD_URL);
await page.evaluate((t) => sessionStorage.setItem('hwnas.token', t), TOKEN);

const first = [];
const pareto = [];
const draw = [];
const apiDone = [];
for (let i = 0; i < RUNS; i++) {
  // A fresh document each time (not a same-document hash change and a
  // reload, which sent and then dropped a first round of requests that the
  // server still answered).
  await page.goto('about:blank');
  await page.goto(`${DASHBOARD_URL}#/search/${SEARCH}`);
  first.push(await page.waitForFunction(() => document.querySelector('#search') &&
    document.querySelectorAll('#trials tbody tr').length > 0 && performance.now(), null, { polling: 10, timeout: 60000 }).then((h) => h.jsonValue()));
  pareto.push(await page.waitForFunction(() => document.querySelector('#pareto-chart canvas') &&
    document.querySelector('#pareto-chart').dataset.drawMs && performance.now(), null, { polling: 10, timeout: 60000 }).then((h) => h.jsonValue()));
  draw.push(+(await page.getAttribute('#pareto-chart', 'data-draw-ms')));
  // Where the Pareto time goes: the API answer's arrival (server + transfer)
  // against the chart on screen.
  apiDone.push(await page.evaluate(() => {
    const e = performance.getEntriesByType('resource').find((r) => r.name.includes('/pareto?'));
    return e ? e.responseEnd : NaN;
  }));
  note('load', i, 'first', first[i], 'pareto', pareto[i], 'pareto API answered', apiDone[i]);
  // Each API call of this load: sent, first byte, last byte (ms from the
  // navigation), to see which waits on which.
  const calls = await page.evaluate(() => performance.getEntriesByType('resource')
    .filter((r) => r.name.includes('/api/v1/'))
    .map((r) => `${r.name.replace(/^.*\/api\/v1\//, '')} start ${r.startTime.toFixed(0)} ` +
      `sent ${r.requestStart.toFixed(0)} first-byte ${r.responseStart.toFixed(0)} end ${r.responseEnd.toFixed(0)}`));
  calls.forEach((c) => note('  ', c));
}
const points = await page.getAttribute('#pareto-chart', 'data-points');

const paging = [];
for (let i = 0; i < 10; i++) {
  note('page', i);
  if (await page.isDisabled('#next-page')) break;  // A search of under 500 trials.
  paging.push(await page.evaluate(async () => {
    const table = document.querySelector('#trials');
    const offset = +table.dataset.offset;
    const t0 = performance.now();
    document.querySelector('#next-page').click();
    await new Promise((resolve) => {
      const check = () => (+document.querySelector('#trials').dataset.offset === offset + 50 ? resolve() : setTimeout(check, 1));
      check();
    });
    await new Promise((r) => requestAnimationFrame(() => r()));  // painted
    return performance.now() - t0;
  }));
}
const rows = await page.locator('#trials tbody tr').count();
const version = browser.version();
await page.screenshot({ path: process.env.SCREENSHOT || '/tmp/hwnas-dashboard-bench.png', fullPage: true });
await browser.close();

const f = (v) => v.toFixed(0);
console.log(`browser (headless Chromium ${version}), median of ${RUNS} loads:`);
console.log(`  first load (the server's Pareto answer not yet kept): first render ${f(first[0])} ms, Pareto scatter ${f(pareto[0])} ms (API answer in by ${f(apiDone[0])} ms)`);
console.log(`  search page first render: ${f(median(first))} ms (runs: ${first.map(f).join(', ')})`);
console.log(`  Pareto scatter rendered (${points} points): ${f(median(pareto))} ms from navigation (its API answer in by ${f(median(apiDone))} ms); uPlot from its constructor to its first paint ${f(median(draw))} ms`);
console.log(`  trial table paging (50 rows, ${paging.length} pages): median ${f(median(paging))} ms, max ${f(Math.max(...paging))} ms; ${rows} rows shown`);
