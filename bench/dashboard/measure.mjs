// Browser half of hwnas-bench-dashboard (see dashboard_bench.cc): opens one
// search in headless Chromium (playwright-core) and measures, from the
// navigation's start, the search page's first render (summary and trial
// table painted) and the Pareto scatter's (canvas drawn and painted), and the time
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
// Every wait has a deadline: past it the script says what it waited for and
// exits 1 (the bench's own limit for this script is 10 minutes).
const WAIT_MS = +(process.env.WAIT_MS || 30000);
let browser = null;
let page = null;
function fail(what) {
  note('FAILED:', what);
  const shot = process.env.SCREENSHOT || '/tmp/hwnas-dashboard-bench.png';
  const close = browser ? page?.screenshot({ path: shot, fullPage: true, timeout: 10000 })
    .then(() => note('screenshot', shot)).catch(() => {}).then(() => browser.close()) : Promise.resolve();
  // Exits even when the browser does not close (node's exit kills it).
  return Promise.race([close, new Promise((r) => setTimeout(r, 20000))]).finally(() => process.exit(1));
}
// Runs a Playwright call, naming what it waited for when it fails or takes
// longer than WAIT_MS (page.evaluate has no timeout of its own).
async function waitFor(what, promise) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${WAIT_MS} ms`)), WAIT_MS + 5000);
  });
  try {
    return await Promise.race([promise, late]);
  } catch (e) {
    await fail(`${what}: ${String(e.message).split('\n')[0]}`);
  } finally {
    clearTimeout(timer);
  }
}

browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
// The page's long tasks (over 50 ms on its main thread), kept from the
// document's start: what a late render waited for.
// Also when each measured state is first on screen: a MutationObserver sees
// the DOM change in the task that made it, and a task queued from the next
// animation frame runs once that frame is painted. A poll from outside (as
// waitForFunction) runs only between the page's tasks, so on a starved
// machine it noticed the table late, after the charts' work that followed.
await page.addInitScript(() => {
  window.__painted = {};
  const conditions = {
    first: () => document.querySelector('#search') && document.querySelector('#trials tbody tr'),
    pareto: () => document.querySelector('#pareto-chart[data-draw-ms] canvas'),
  };
  const check = () => {
    for (const [name, holds] of Object.entries(conditions)) {
      if (window.__painted[name] !== undefined || window.__painted[name + ':pending'] || !holds()) continue;
      window.__painted[name + ':pending'] = performance.now();
      requestAnimationFrame(() => setTimeout(() => (window.__painted[name] = performance.now()), 0));
    }
  };
  const seen = new MutationObserver(() => {
    check();
    if (window.__painted['first:pending'] && window.__painted['pareto:pending']) seen.disconnect();
  });
  seen.observe(document, { subtree: true, childList: true, attributes: true });
  window.__long = [];
  new PerformanceObserver((l) => l.getEntries().forEach((e) => window.__long.push([e.startTime, e.duration])))
    .observe({ type: 'longtask', buffered: true });
});
page.setDefaultTimeout(WAIT_MS);
page.setDefaultNavigationTimeout(WAIT_MS);
await waitFor('the app\'s first page', page.goto(DASHBOARD_URL));
await page.evaluate((t) => sessionStorage.setItem('hwnas.token', t), TOKEN);

// The renderer's own time by kind (script, style, layout; seconds of its
// main thread) per load, from the DevTools protocol.
const cdp = await page.context().newCDPSession(page);
await cdp.send('Performance.enable');
const rendererTimes = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics
  .filter((m) => /^(TaskDuration|ScriptDuration|LayoutDuration|RecalcStyleDuration)$/.test(m.name)).map((m) => [m.name, m.value]));
const first = [];
const pareto = [];
const draw = [];
const apiDone = [];
for (let i = 0; i < RUNS; i++) {
  // A fresh document each time (not a same-document hash change and a
  // reload, which sent and then dropped a first round of requests that the
  // server still answered).
  await waitFor('about:blank', page.goto('about:blank'));
  const before = await rendererTimes();
  await waitFor(`load ${i}: the search page`, page.goto(`${DASHBOARD_URL}#/search/${SEARCH}`));
  first.push(await waitFor(`load ${i}: the summary (#search) and trial rows (#trials tbody tr)`,
    page.waitForFunction(() => document.querySelector('#search') &&
      document.querySelectorAll('#trials tbody tr').length > 0 && performance.now(), null, { polling: 10 }).then((h) => h.jsonValue())));
  pareto.push(await waitFor(`load ${i}: the Pareto scatter drawn (#pareto-chart canvas, data-draw-ms)`,
    page.waitForFunction(() => document.querySelector('#pareto-chart canvas') &&
      document.querySelector('#pareto-chart').dataset.drawMs && performance.now(), null, { polling: 10 }).then((h) => h.jsonValue())));
  draw.push(+(await waitFor('data-draw-ms', page.getAttribute('#pareto-chart', 'data-draw-ms'))));
  // Painted times (see the init script); the polls above only say that both
  // states were reached.
  const painted = await waitFor(`load ${i}: paint times`, page.waitForFunction(() => window.__painted.first !== undefined &&
    window.__painted.pareto !== undefined && window.__painted, null, { polling: 10 }).then((h) => h.jsonValue()));
  note(`   noticed by polling: first ${first[i].toFixed(0)}, pareto ${pareto[i].toFixed(0)}; in the DOM: first ${painted['first:pending'].toFixed(0)}, pareto ${painted['pareto:pending'].toFixed(0)}`);
  first[i] = painted.first;
  pareto[i] = painted.pareto;
  // Where the Pareto time goes: the API answer's arrival (server + transfer)
  // against the chart on screen.
  apiDone.push(await page.evaluate(() => {
    const e = performance.getEntriesByType('resource').find((r) => r.name.includes('/pareto?'));
    return e ? e.responseEnd : NaN;
  }));
  const after = await rendererTimes();
  note('   renderer main thread (ms): ' + Object.keys(after).map((k) => `${k.replace('Duration', '')} ${(1000 * (after[k] - (before[k] || 0))).toFixed(0)}`).join(', '));
  note('load', i, 'first', first[i], 'pareto', pareto[i], 'pareto API answered', apiDone[i]);
  // Each API call of this load: sent, first byte, last byte (ms from the
  // navigation), to see which waits on which.
  const calls = await page.evaluate(() => performance.getEntriesByType('resource')
    .filter((r) => r.name.includes('/api/v1/'))
    .map((r) => `${r.name.replace(/^.*\/api\/v1\//, '')} start ${r.startTime.toFixed(0)} ` +
      `sent ${r.requestStart.toFixed(0)} first-byte ${r.responseStart.toFixed(0)} end ${r.responseEnd.toFixed(0)}`));
  calls.forEach((c) => note('  ', c));
  note('   app marks:', await page.evaluate(() => performance.getEntriesByType('mark').filter((m) => m.name.startsWith('hwnas:'))
    .map((m) => `${m.name.slice(6)} ${m.startTime.toFixed(0)}`).join(', ')));
  note('   long tasks (start+ms):', (await page.evaluate(() => window.__long.map(([t, d]) => `${t.toFixed(0)}+${d.toFixed(0)}`).join(' '))) || 'none',
    '; first contentful paint', await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime.toFixed(0)));
}
const points = await page.getAttribute('#pareto-chart', 'data-points');

const paging = [];
for (let i = 0; i < 10; i++) {
  note('page', i);
  if (await waitFor('the next-page button', page.isDisabled('#next-page'))) break;  // Under 500 trials.
  const r = await waitFor(`paging, page ${i + 2}`, page.evaluate(async (limit) => {
    const table = document.querySelector('#trials');
    const offset = +table.dataset.offset;
    const t0 = performance.now();
    document.querySelector('#next-page').click();
    const ok = await new Promise((resolve) => {
      const check = () => {
        // (No table at all, e.g. a login page after a 401, also ends in the deadline.)
        if (+document.querySelector('#trials')?.dataset.offset === offset + 50) return resolve(true);
        if (performance.now() - t0 > limit) return resolve(false);
        setTimeout(check, 1);
      };
      check();
    });
    if (!ok) {
      const t = document.querySelector('#trials');
      return { error: `rows ${offset + 51}-${offset + 100} (data-offset ${offset + 50}) not shown ` +
        `${limit} ms after the click: ${t ? `data-offset ${t.dataset.offset}, query ${t.dataset.query}` : 'no #trials table'}, ` +
        `first row ${document.querySelector('#trials tbody tr')?.dataset.trial}, ` +
        `error ${document.querySelector('.error')?.textContent || 'none'}, ` +
        `${document.querySelector('#reconnecting') ? 'reconnecting' : 'connected'}, ${document.querySelector('#login') ? 'login page' : location.hash}` };
    }
    await new Promise((r) => requestAnimationFrame(() => r()));  // painted
    return { ms: performance.now() - t0 };
  }, WAIT_MS));
  if (r.error) await fail(`paging, page ${i + 2}: ${r.error}`);
  paging.push(r.ms);
}
const rows = await page.locator('#trials tbody tr').count();
const shown = await page.getAttribute('#trials', 'data-offset');
const version = browser.version();
await waitFor('the screenshot', page.screenshot({ path: process.env.SCREENSHOT || '/tmp/hwnas-dashboard-bench.png', fullPage: true }));

const f = (v) => v.toFixed(0);
console.log(`browser (headless Chromium ${version}), median of ${RUNS} loads:`);
console.log(`  first load (the server's Pareto answer not yet kept): first render ${f(first[0])} ms, Pareto scatter ${f(pareto[0])} ms (API answer in by ${f(apiDone[0])} ms)`);
console.log(`  search page first render: ${f(median(first))} ms (runs: ${first.map(f).join(', ')})`);
console.log(`  Pareto scatter rendered (${points} points): ${f(median(pareto))} ms from navigation (its API answer in by ${f(median(apiDone))} ms); uPlot from its constructor to its first paint ${f(median(draw))} ms`);
console.log(`  trial table paging (50 rows, ${paging.length} pages): median ${f(median(paging))} ms, max ${f(Math.max(...paging))} ms; ${rows} rows shown from row ${+shown + 1}`);
// The results are out: closing the browser gets a deadline too, and the
// script exits even if it does not close (Playwright kills the browser it
// launched when node exits).
let closer;
await Promise.race([browser.close(), new Promise((r) => { closer = setTimeout(r, 15000); })]);
clearTimeout(closer);
process.exit(0);
