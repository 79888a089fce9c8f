// Drives the dashboard in Debian's Chromium through playwright-core, against
// the hwnas-server that dashboard_test.cc started (see there). Steps that
// need processes (workers, a server restart) are asked for through files in
// $HANDSHAKE: this script writes NAME, the test answers NAME.ack.
// Screenshots go to $ARTIFACTS. Exit 0 only when every check held.
import { createRequire } from 'node:module';
import { existsSync, writeFileSync } from 'node:fs';
import assert from 'node:assert/strict';

const require = createRequire(new URL('../../dashboard/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const { DASHBOARD_URL, ALICE_TOKEN, LIVE_SEARCH, BOB_SEARCH, OTHER_SEARCH, CV_SEARCH, DENSE_SEARCH, ARTIFACTS, HANDSHAKE } = process.env;
const log = (...a) => console.log(new Date().toISOString(), ...a);

async function ask(step, timeoutMs = 120000) {
  writeFileSync(`${HANDSHAKE}/${step}`, 'go\n');
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(`${HANDSHAKE}/${step}.ack`)) {
    if (Date.now() > deadline) throw new Error(`no answer to ${step}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  log('done:', step);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
const shot = (name) => page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });
page.on('pageerror', (e) => log('page error:', e.message));
let failed = false;
// Every answer of the JSON API the page got, to check none carried data
// while it had no valid token.
const answers = [];
page.on('response', (r) => r.url().includes('/api/v1/') && answers.push({ url: r.url(), status: r.status() }));
// The rows on screen: their trial numbers, the table's offset and query.
const onScreen = () => page.evaluate(() => {
  const t = document.querySelector('#trials');
  return {
    offset: t ? +t.dataset.offset : NaN, query: t?.dataset.query,
    numbers: [...document.querySelectorAll('#trials tbody tr')].map((r) => +r.dataset.trial),
  };
});
try {
  // No token at all: a link to a search gets the login page, and the page
  // asked the API for nothing that answered with data.
  await page.goto(`${DASHBOARD_URL}#/search/${LIVE_SEARCH}`);
  await page.waitForSelector('#login');
  assert.equal(await page.locator('#search').count(), 0);
  assert.deepEqual(answers.filter((a) => a.status < 400), [], 'an API answer with data before logging in');
  log('ok: no token, a search link gets the login page and no data');

  // A wrong token gets the login page again, with the reason, and no data.
  await page.goto(DASHBOARD_URL);
  await page.waitForSelector('#login');
  await page.fill('input[name=token]', 'hwnas_wrong-token');
  await page.click('button[type=submit]');
  await page.waitForSelector('#login .error');
  assert.match(await page.textContent('#login .error'), /not valid/);
  assert.equal(await page.locator('#searches').count(), 0);
  await shot('01-wrong-token');
  log('ok: a wrong token stays on the login page');

  await page.fill('input[name=token]', ALICE_TOKEN);
  await page.click('button[type=submit]');
  await page.waitForSelector(`#searches tr[data-search="${LIVE_SEARCH}"]`);
  assert.equal(await page.locator(`#searches tr[data-search="${BOB_SEARCH}"]`).count(), 0);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('hwnas.token') !== null), true);
  await shot('02-searches');
  log('ok: logged in; the list has alice\'s search and not bob\'s');

  // The search page, before any worker runs: nothing finished yet.
  await page.click(`#searches tr[data-search="${LIVE_SEARCH}"] a`);
  await page.waitForSelector('#search[data-finished="0"]');
  await page.evaluate(() => (window.__sameDocument = true));
  await shot('03-search-before');
  // The owner enqueues an architecture (one of the space's, as the table
  // shows it); a request with a bad line is refused whole, naming the line.
  await page.waitForSelector('#trials tbody tr td.arch');
  const arch = await page.getAttribute('#trials tbody tr td.arch', 'title');
  await page.click('details.enqueue summary');
  await page.fill('#enqueue-archs', `${arch}\nnot an architecture`);
  await page.click('#enqueue-submit');
  await page.waitForSelector('#enqueue-error');
  assert.match(await page.textContent('#enqueue-error'), /line 2/);
  await page.fill('#enqueue-archs', arch);
  await page.click('#enqueue-submit');
  await page.waitForSelector('#enqueue-result');
  assert.match(await page.textContent('#enqueue-result'), /enqueued as trial #\d+/);
  await shot('03b-enqueued');
  log('ok: enqueued', arch, 'from the search page; a bad line was refused naming it');
  await ask('start-workers');
  // A trial finishes and the page shows it without a reload.
  await page.waitForFunction(() => +document.querySelector('#search')?.dataset.finished > 0, null, { timeout: 120000 });
  assert.equal(await page.evaluate(() => window.__sameDocument), true);
  log('ok: a trial finished live, no reload');
  await page.waitForSelector('#search[data-state="COMPLETED"]', { timeout: 180000 });
  await page.waitForFunction(() => document.querySelector('#finished')?.textContent === '30');
  await page.waitForSelector('#pareto-chart[data-points] canvas');
  await page.waitForSelector('#best-trials canvas');
  const plotted = await page.getAttribute('#pareto-chart', 'data-points');
  assert.ok(+plotted > 0, `pareto plotted ${plotted}`);
  // Every one of the 30 finished trials is accounted for: the server keeps
  // its Pareto answer only until another trial finishes.
  const info = await page.textContent('#pareto-info');
  const [, shown, , missing] = info.match(/(\d+) plotted(, (\d+) without both metrics)?/);
  assert.equal(+shown + (+missing || 0), 30, info);
  await shot('04-search-completed');
  log('ok: completed; Pareto chart drew', plotted, 'points');

  // Decision importance: one row per token position, shares in [0, 100] %.
  await page.waitForSelector('#importance tbody tr');
  const shares = await page.evaluate(() => [...document.querySelectorAll('#importance td.bar em')].map((e) => e.textContent));
  assert.ok(shares.length > 0, 'no importance cell');
  assert.ok(shares.every((t) => t === '–' || (parseFloat(t) >= 0 && parseFloat(t) <= 100)), `shares: ${shares}`);
  assert.ok(shares.some((t) => parseFloat(t) > 0), `no decision moves anything: ${shares}`);
  log('ok: importance shown for', await page.locator('#importance tbody tr').count(), 'decisions');

  // Filter: SUCCEEDED with accuracy >= 0.5, checked on every row shown.
  await page.selectOption('#filter-state', 'SUCCEEDED');
  await page.waitForFunction(() => [...document.querySelectorAll('#trials tbody tr')].every((r) => r.dataset.state === 'SUCCEEDED'));
  await page.selectOption('#filter-metric', 'accuracy');
  await page.fill('#filter-min', '0.5');
  await page.press('#filter-min', 'Enter');
  await page.locator('#filter-min').blur();
  // The rows shown are those of the filtered query (data-query: the loaded page's).
  await page.waitForSelector('#trials[data-query*="min=0.5"][data-query*="state=SUCCEEDED"]');
  const accuracies = await page.evaluate(() => {
    const col = [...document.querySelectorAll('#trials thead th')].findIndex((th) => th.dataset.col === 'accuracy');
    return [...document.querySelectorAll('#trials tbody tr')].map((r) => +r.children[col].textContent);
  });
  assert.ok(accuracies.length > 0, 'no row after filtering');
  assert.ok(accuracies.every((a) => a >= 0.5), `rows below 0.5: ${accuracies}`);
  await shot('05-filtered');
  log('ok: filtered to', accuracies.length, 'rows with accuracy >= 0.5');

  // Sorting by accuracy (descending on first click) is done by the server.
  await page.click('#trials th[data-col=accuracy]');
  await page.waitForSelector('#trials[data-query*="order=accuracy"][data-query*="desc=1"]');
  const sorted = await page.evaluate(() => {
    const col = [...document.querySelectorAll('#trials thead th')].findIndex((th) => th.dataset.col === 'accuracy');
    return [...document.querySelectorAll('#trials tbody tr')].map((r) => +r.children[col].textContent);
  });
  assert.deepEqual(sorted, [...sorted].sort((a, b) => b - a));

  // A trial's page: metrics, its architecture as blocks.
  await page.click('#trials tbody tr:first-child a');
  await page.waitForSelector('#trial #architecture .block');
  await shot('06-trial');
  log('ok: trial page');

  // A cross-validated search (#23): accuracy ± its standard error in the
  // table, "within noise of the best" marks, and the folds on a trial page.
  await page.goto(`${DASHBOARD_URL}#/search/${CV_SEARCH}`);
  await page.waitForSelector('#trials tbody tr[data-trial="6"]');
  assert.match(await page.textContent('#best-accuracy'), /^0\.9000 ±0\.0200$/);
  const cvRows = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#trials tbody tr')].map((r) => [r.dataset.trial, r.querySelector('td[data-col=accuracy]').textContent])));
  assert.match(cvRows[1], /^0\.9000 ±0\.0200$/);
  assert.match(cvRows[2], /^0\.8800 ±0\.0200 ≈best$/);
  assert.match(cvRows[3], /^0\.8700 ±0\.0300 ≈best$/);
  for (const n of [1, 4, 5, 6]) assert.ok(!cvRows[n].includes('≈best'), `trial ${n}: ${cvRows[n]}`);
  const heads = await page.evaluate(() => [...document.querySelectorAll('#trials thead th')].map((th) => th.dataset.col).filter(Boolean));
  assert.ok(heads.includes('balanced_accuracy') && heads.includes('macro_f1'), `columns: ${heads}`);
  assert.ok(!heads.includes('accuracy_se'), 'the error is shown with the accuracy, not as a column');
  await page.waitForSelector('#noise-note');
  await shot('06c-cross-validated');
  await page.click('#trials tbody tr[data-trial="2"] a');
  await page.waitForSelector('#trial #folds');
  assert.match(await page.textContent('#trial tr[data-metric=accuracy] td'), /^0\.8800 ±0\.0200$/);
  assert.match(await page.textContent('#folds td'), /^0\.8600, 0\.9000, 0\.8600, 0\.9000$/);
  await page.waitForSelector('#layers tbody tr');
  assert.ok((await page.locator('#layers tbody tr').count()) > 2);
  await shot('06d-cross-validated-trial');
  log('ok: accuracy ± its error, within-noise marks, folds and layers');

  // 5,000 trials: pages past the first ones, with quick clicks, by number
  // and sorted (#22: the benchmark's paging at 100,000 trials hung when a
  // click's rows never came), and the Pareto answer thinned to one point
  // per cell with the whole front.
  await page.goto(`${DASHBOARD_URL}#/search/${DENSE_SEARCH}`);
  await page.waitForSelector('#trials tbody tr[data-trial="1"]');
  const next = async (want) => {
    await page.click('#next-page');
    await page.waitForFunction((o) => +document.querySelector('#trials').dataset.offset === o, want, { timeout: 30000 });
  };
  for (let k = 1; k <= 4; k++) {
    await next(50 * k);
    const s = await onScreen();
    assert.deepEqual(s.numbers, Array.from({ length: 50 }, (_, i) => 50 * k + i + 1), `page ${k + 1}`);
  }
  // Two clicks before the first one's rows come: one page on, not two
  // offsets on with the rows of one.
  await page.evaluate(() => {
    document.querySelector('#next-page').click();
    document.querySelector('#next-page').click();
  });
  await page.waitForFunction(() => +document.querySelector('#trials').dataset.offset === 250, null, { timeout: 30000 });
  await page.waitForTimeout(500);  // Any late answer would have landed by now.
  let s = await onScreen();
  assert.equal(s.offset, 250, 'two quick clicks moved one page');
  assert.deepEqual(s.numbers, Array.from({ length: 50 }, (_, i) => 251 + i), 'rows after two quick clicks');
  assert.match(await page.textContent('.pager span'), /rows 251–300/);
  // Next then previous at once: the previous page is what stays.
  await page.evaluate(() => {
    document.querySelector('#next-page').click();
  });
  await page.click('#prev-page');
  await page.waitForTimeout(500);
  s = await onScreen();
  assert.ok(s.offset === 200 || s.offset === 250, `offset ${s.offset}`);
  assert.deepEqual(s.numbers, Array.from({ length: 50 }, (_, i) => s.offset + i + 1), `rows at offset ${s.offset}`);
  // Sorted by accuracy (descending), three pages: ordered across the page
  // boundaries, no trial twice.
  await page.click('#trials th[data-col=accuracy]');
  await page.waitForSelector('#trials[data-query*="order=accuracy"][data-query*="desc=1"][data-offset="0"]');
  const accuracyOf = () => page.evaluate(() => [...document.querySelectorAll('#trials tbody tr td[data-col=accuracy]')].map((c) => c.dataset.value === '' ? -1 : +c.dataset.value));
  let seen = new Set((await onScreen()).numbers);
  let values = await accuracyOf();
  for (let k = 1; k <= 2; k++) {
    await next(50 * k);
    const v = await accuracyOf();
    const n = (await onScreen()).numbers;
    assert.equal(n.length, 50);
    assert.ok(n.every((x) => !seen.has(x)), `page ${k + 1} repeats a trial`);
    n.forEach((x) => seen.add(x));
    values = values.concat(v);
  }
  assert.deepEqual(values, [...values].sort((a, b) => b - a), 'accuracy descending across pages');
  await shot('06e-dense-paged');
  log('ok: 5,000 trials paged by number and by accuracy, quick clicks included');
  await page.waitForSelector('#pareto-sampled');
  await page.waitForSelector('#pareto-chart[data-points] canvas');
  assert.match(await page.textContent('#pareto-info'), /5000 plotted/);
  const drawn = +(await page.getAttribute('#pareto-chart', 'data-points'));
  assert.ok(drawn > 0 && drawn < 5000, `drew ${drawn} of 5000`);
  log('ok: the Pareto scatter of 5,000 trials drew', drawn, 'points');

  // A search that does not exist, and a trial that does not: 404 pages.
  await page.goto(`${DASHBOARD_URL}#/search/987654321`);
  await page.waitForSelector('#not-found');
  await page.goto(`${DASHBOARD_URL}#/search/${LIVE_SEARCH}/trial/987654`);
  await page.waitForSelector('#not-found');
  assert.equal(await page.locator('#trial').count(), 0);
  log('ok: an unknown search and an unknown trial are 404 pages');

  // Two of alice's searches side by side; one of bob's is a 404 page.
  await page.goto(`${DASHBOARD_URL}#/search/${LIVE_SEARCH}`);
  await page.fill('#compare-with', OTHER_SEARCH);
  await page.press('#compare-with', 'Enter');
  await page.waitForSelector(`#compare tr[data-search="${LIVE_SEARCH}"]`);
  await page.waitForSelector(`#compare tr[data-search="${OTHER_SEARCH}"]`);
  await page.waitForSelector('#compare-best canvas');
  await page.waitForSelector('#compare-scatter[data-points] canvas');
  assert.ok(+(await page.getAttribute('#compare-scatter', 'data-points')) > 0);
  await shot('06b-compare');
  // Compared with the cross-validated one: its best accuracy with ±.
  await page.goto(`${DASHBOARD_URL}#/compare/${CV_SEARCH}/${LIVE_SEARCH}`);
  await page.waitForSelector(`#compare tr[data-search="${CV_SEARCH}"] td[data-col=accuracy]`);
  assert.match(await page.textContent(`#compare tr[data-search="${CV_SEARCH}"] td[data-col=accuracy]`), /^0\.9000 ±0\.0200$/);
  await page.goto(`${DASHBOARD_URL}#/compare/${LIVE_SEARCH}/${BOB_SEARCH}`);
  await page.waitForSelector('#not-found');
  log('ok: comparison page; with bob\'s search it is a 404');

  // Another user's search is a 404 page.
  await page.goto(`${DASHBOARD_URL}#/search/${BOB_SEARCH}`);
  await page.waitForSelector('#not-found');
  assert.equal(await page.locator('#search').count(), 0);
  await page.goto(`${DASHBOARD_URL}#/search/${BOB_SEARCH}/trial/1`);
  await page.waitForSelector('#not-found');
  await shot('07-other-users-search');
  log('ok: bob\'s search is a 404');

  // The server restarts: the page says "reconnecting", then recovers.
  await page.goto(`${DASHBOARD_URL}#/search/${LIVE_SEARCH}`);
  await page.waitForSelector('#search');
  await ask('stop-server');
  await page.waitForSelector('#reconnecting', { timeout: 30000 });
  await shot('08-reconnecting');
  await ask('start-server');
  await page.waitForSelector('#reconnecting', { state: 'detached', timeout: 60000 });
  await page.waitForSelector('#search');
  log('ok: reconnecting shown while the server was down, then gone');

  // Log out: back to the login page, token gone.
  await page.click('#logout');
  await page.waitForSelector('#login');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('hwnas.token')), null);
  // A token that stops being valid (here: a wrong one) gets the login page.
  await page.evaluate(() => sessionStorage.setItem('hwnas.token', 'hwnas_revoked'));
  await page.goto(`${DASHBOARD_URL}#/search/${LIVE_SEARCH}`);
  await page.reload();
  await page.waitForSelector('#login');
  assert.equal(await page.locator('#search').count(), 0);
  await shot('09-logged-out');
  log('ok: logout and a bad stored token both end on the login page');
} catch (e) {
  failed = true;
  log('FAILED:', e.stack || e);
  await shot('failure').catch(() => {});
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
