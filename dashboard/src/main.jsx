// hwnas dashboard: a single-page app over hwnas-server's /api/v1 (see
// docs/dashboard.md). Routes live in the URL fragment (#/search/12), so the
// server serves one page and a reload keeps the view.
import { render } from 'preact';
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, clearToken, getToken, onOnline, qs, setToken } from './api.js';
import { bestChart, Chart, compareBestChart, compareScatterChart, epochChart, fmt, paretoChart } from './charts.jsx';
import './style.css';

const POLL_MS = 2000;

function useRoute() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return hash.replace(/^#\/?/, '').split('/').filter(Boolean);
}

// Runs `load` now and every `ms` (when given) while mounted; keeps the last
// good answer while the server is away.
function usePoll(load, deps, ms) {
  const [state, setState] = useState({ data: null, error: null });
  const alive = useRef(true);
  // Before paint, so the first request does not wait for a frame.
  useLayoutEffect(() => {
    alive.current = true;
    let timer = null;
    const tick = async () => {
      try {
        const data = await load();
        if (alive.current) setState({ data, error: null });
      } catch (e) {
        if (alive.current) setState((s) => ({ data: e.status === 0 || e.status === 503 ? s.data : null, error: e }));
      }
      if (alive.current && ms) timer = setTimeout(tick, ms);
    };
    tick();
    return () => {
      alive.current = false;
      clearTimeout(timer);
    };
  }, deps);
  return state;
}

const when = (s) => (s ? new Date(s * 1000).toLocaleString() : '');
const duration = (s) => {
  if (s == null) return '';
  if (s < 90) return Math.round(s) + ' s';
  if (s < 5400) return Math.round(s / 60) + ' min';
  return (s / 3600).toFixed(1) + ' h';
};

function Login({ message }) {
  const [token, setTok] = useState('');
  const [error, setError] = useState(message || '');
  const submit = async (e) => {
    e.preventDefault();
    try {
      await api('me', { token: token.trim() });
      setToken(token.trim());
      location.hash = '#/';
      window.dispatchEvent(new Event('hwnas-login'));
    } catch (err) {
      setError(err.status === 401 ? 'That token is not valid.' : err.message);
    }
  };
  return (
    <form class="login" id="login" onSubmit={submit}>
      <h1>hwnas</h1>
      <p>Sign in with your API token (hwnas-server admin issue-token NAME).</p>
      <input type="password" name="token" placeholder="API token" autocomplete="off" value={token}
        onInput={(e) => setTok(e.currentTarget.value)} />
      <button type="submit">Sign in</button>
      {error && <p class="error" role="alert">{error}</p>}
    </form>
  );
}

function NotFound({ what }) {
  return (
    <div class="notfound" id="not-found">
      <h2>404: {what} not found</h2>
      <p>It does not exist, or it is not yours. <a href="#/">All searches</a></p>
    </div>
  );
}

function Progress({ s }) {
  return (
    <span class="progress" title={`${s.finished} of ${s.budget}`}>
      <span style={{ width: (100 * s.progress).toFixed(1) + '%' }} />
      <em>{s.finished}/{s.budget}</em>
    </span>
  );
}

function Searches() {
  const [token, setPageToken] = useState('');
  const { data, error } = usePoll(() => api('searches?' + qs({ page_token: token })), [token], POLL_MS * 2);
  if (!data) return error ? <p class="error">{error.message}</p> : <p>Loading…</p>;
  return (
    <div>
      <h2>Searches</h2>
      <table class="grid" id="searches">
        <thead>
          <tr><th>id</th><th>name</th><th>owner</th><th>state</th><th>progress</th><th>best reward</th>
            <th>best accuracy</th><th>rate</th><th>ETA</th><th>created</th></tr>
        </thead>
        <tbody>
          {data.searches.map((s) => (
            <tr key={s.id} data-search={s.id}>
              <td>{s.id}</td>
              <td><a href={`#/search/${s.id}`}>{s.name}</a></td>
              <td>{s.owner}</td>
              <td class={'state ' + s.state}>{s.state}</td>
              <td><Progress s={s} /></td>
              <td>{fmt(s.best?.metrics?.reward)}</td>
              <td>{fmt(s.best?.metrics?.accuracy)}</td>
              <td>{s.rate_per_min.toFixed(1)}/min</td>
              <td>{duration(s.eta_seconds)}</td>
              <td>{when(s.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {data.searches.length === 0 && <p>No searches yet: submit one with hwnas submit SPEC.</p>}
      <Pager token={token} next={data.next_page_token} setToken={setPageToken} size={50} />
    </div>
  );
}

function Pager({ token, next, setToken, size }) {
  const offset = +token || 0;
  return (
    <div class="pager">
      <button id="prev-page" disabled={offset === 0} onClick={() => setToken(offset - size > 0 ? String(offset - size) : '')}>‹ previous</button>
      <span>rows {offset + 1}–{offset + size}</span>
      <button id="next-page" disabled={!next} onClick={() => setToken(next)}>next ›</button>
    </div>
  );
}

// Keyset pages: the server's next_page_token continues after the last row;
// "previous" goes back through the tokens that led here.
function KeysetPager({ stack, next, go, size }) {
  const offset = stack.length * size;
  return (
    <div class="pager">
      <button id="prev-page" disabled={stack.length === 0} onClick={() => go(-1)}>‹ previous</button>
      <span>rows {offset + 1}–{offset + size}</span>
      <button id="next-page" disabled={!next} onClick={() => go(+1)}>next ›</button>
    </div>
  );
}

// Accuracy for people: with ± its standard error when the trial was
// cross-validated (#23), as `hwnas trials` and the report print it.
const accuracyText = (m) =>
  m?.accuracy == null ? '' : m.accuracy_se != null ? `${m.accuracy.toFixed(4)} ±${m.accuracy_se.toFixed(4)}` : fmt(m.accuracy);

// As the report: within noise of the best (by reward) when the accuracies
// differ by at most their combined standard error; only cross-validated
// trials have one, so a single split is never "within noise".
const withinNoise = (t, best) => {
  if (!best || t.number === best.number) return false;
  const a = t.metrics, b = best.metrics;
  if (a?.accuracy_se == null || b?.accuracy_se == null || a.accuracy == null || b.accuracy == null) return false;
  return Math.abs(a.accuracy - b.accuracy) <= Math.hypot(a.accuracy_se, b.accuracy_se);
};

const TRIAL_STATES = ['', 'PENDING', 'LEASED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'INFEASIBLE', 'EARLY_STOPPED', 'CANCELLED'];
const COLUMNS = ['reward', 'accuracy', 'balanced_accuracy', 'macro_f1', 'latency_ms', 'params', 'macs', 'peak_memory_bytes', 'flash_bytes'];
const PAGE = 50;

// The owner's `hwnas enqueue` in the page: one architecture per line, in the
// space's readable form; all or nothing, and an error names the line.
function Enqueue({ id, onAdded }) {
  const [text, setText] = useState('');
  const [result, setResult] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    const architectures = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    if (architectures.length === 0) return setResult({ error: 'enter at least one architecture' });
    try {
      const r = await api(`searches/${id}/enqueue`, { method: 'POST', body: { architectures } });
      setResult({ ok: `enqueued as trial${r.trials.length > 1 ? 's' : ''} ${r.trials.map((t) => '#' + t.number).join(', ')}; they run before the strategy's next proposals` });
      setText('');
      onAdded();
    } catch (err) {
      setResult({ error: err.message });
    }
  };
  return (
    <details class="enqueue">
      <summary>Enqueue architectures</summary>
      <form id="enqueue" onSubmit={submit}>
        <textarea id="enqueue-archs" rows="3" cols="80" placeholder="one architecture per line, as the trials table shows them" value={text} onInput={(e) => setText(e.currentTarget.value)} />
        <button id="enqueue-submit" type="submit">Enqueue</button>
      </form>
      {result?.ok && <p id="enqueue-result">{result.ok}</p>}
      {result?.error && <p class="error" id="enqueue-error">{result.error}</p>}
    </details>
  );
}

function TrialsTable({ searchId, metrics, version, best, onShown }) {
  const [filter, setFilter] = useState({ state: '', metric: 'accuracy', min: '', max: '' });
  const [order, setOrder] = useState({ by: 'number', desc: false });
  // The page's token and the tokens of the pages before it.
  const [paging, setPaging] = useState({ token: '', stack: [] });
  const token = paging.token;
  const setPageToken = (t) => setPaging({ token: t, stack: [] });
  const [page, setPage] = useState(null);
  const [error, setError] = useState('');
  // Steps from the page on screen (the tokens it was asked with and its
  // next_page_token), not from a request still on its way: two quick clicks
  // ask for the same next page, never for a page past one not yet shown.
  const go = (step) => {
    if (!page) return;
    const from = page.paging;
    const to = step > 0
      ? { token: page.next_page_token, stack: [...from.stack, from.token] }
      : { token: from.stack[from.stack.length - 1], stack: from.stack.slice(0, -1) };
    setPaging((p) => (to.token === p.token && to.stack.length === p.stack.length ? p : to));
  };
  // Only the latest request's answer is shown: an earlier one that comes
  // back after it (a live reload, a quick next and previous) is dropped.
  const asked = useRef(0);
  // accuracy_se shows as the ± of the accuracy column, not on its own.
  const columns = useMemo(() => [...new Set([...COLUMNS.filter((c) => c === 'reward' || metrics.includes(c)), ...metrics])].filter((c) => c !== 'accuracy_se'), [metrics]);
  const noiseMarks = page?.trials.some((t) => withinNoise(t, best));
  useLayoutEffect(() => {
    const t0 = performance.now();
    const q = qs({
      state: filter.state, metric: filter.min !== '' || filter.max !== '' ? filter.metric : '',
      min: filter.min, max: filter.max, order: order.by, desc: order.desc ? 1 : '', page_token: token, page_size: PAGE,
    });
    const n = ++asked.current;
    api(`searches/${searchId}/trials?${q}`)
      .then((p) => {
        if (n !== asked.current) return;
        setPage({ ...p, ms: performance.now() - t0, offset: paging.stack.length * PAGE, query: q, paging });
        setError('');
      })
      .catch((e) => {
        if (n !== asked.current) return;
        setError(e.message);
        onShown?.();
      });
  }, [searchId, filter, order, paging, version]);
  // Once the first rows are painted (a task after the frame that drew them).
  const rowsIn = page !== null;
  useEffect(() => {
    if (!rowsIn) return;
    performance.mark('hwnas:rows-rendered');
    if (onShown) requestAnimationFrame(() => setTimeout(() => (performance.mark('hwnas:rows-painted'), onShown()), 0));
  }, [rowsIn]);
  const sortBy = (by) => {
    setOrder((o) => ({ by, desc: o.by === by ? !o.desc : by === 'reward' || by === 'accuracy' }));
    setPageToken('');
  };
  // What is typed in min/max, applied on Enter or leaving the field; kept
  // apart from the filter so the page's live redraws do not wipe it.
  const [draft, setDraft] = useState({ min: '', max: '' });
  const change = (k) => (e) => {
    const v = e.currentTarget.value;
    setFilter((f) => ({ ...f, [k]: v }));
    setPageToken('');
  };
  const type = (k) => (e) => {
    const v = e.currentTarget.value;
    setDraft((d) => ({ ...d, [k]: v }));
  };
  // Not the change event: redrawing a controlled input resets the browser's
  // "changed since focus" state, so it may never fire.
  const apply = (k) => (e) => {
    if (e.type === 'keydown' && e.key !== 'Enter') return;
    const v = e.currentTarget.value;
    if (filter[k] === v) return;
    setFilter((f) => ({ ...f, [k]: v }));
    setPageToken('');
  };
  const arrow = (c) => (order.by === c ? (order.desc ? ' ▼' : ' ▲') : '');
  return (
    <section>
      <h3>Trials</h3>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>state <select id="filter-state" value={filter.state} onChange={change('state')}>
          {TRIAL_STATES.map((s) => <option value={s}>{s || 'any'}</option>)}
        </select></label>
        <label>metric <select id="filter-metric" value={filter.metric} onChange={change('metric')}>
          {metrics.map((m) => <option value={m}>{m}</option>)}
        </select></label>
        <label>min <input id="filter-min" size="8" value={draft.min} onInput={type('min')} onKeyDown={apply('min')} onBlur={apply('min')} /></label>
        <label>max <input id="filter-max" size="8" value={draft.max} onInput={type('max')} onKeyDown={apply('max')} onBlur={apply('max')} /></label>
      </form>
      {error && <p class="error">{error}</p>}
      <table class="grid" id="trials" data-ms={page ? page.ms.toFixed(1) : ''} data-offset={page ? page.offset : ''} data-query={page ? page.query : ''}>
        <thead>
          <tr>
            <th onClick={() => sortBy('number')}>#{arrow('number')}</th><th>state</th>
            {columns.map((c) => <th onClick={() => sortBy(c)} data-col={c}>{c}{arrow(c)}</th>)}
            <th>architecture</th>
          </tr>
        </thead>
        <tbody>
          {page?.trials.map((t) => (
            <tr key={t.number} data-trial={t.number} data-state={t.state}>
              <td><a href={`#/search/${searchId}/trial/${t.number}`}>{t.number}</a></td>
              <td class={'state ' + t.state}>{t.state}</td>
              {columns.map((c) => (c === 'accuracy'
                ? <td class="num" data-col="accuracy" data-value={t.metrics.accuracy ?? ''}>{accuracyText(t.metrics)}{withinNoise(t, best) && <span class="noise" title="within noise of the best trial's accuracy (difference at most their combined standard error)"> ≈best</span>}</td>
                : <td class="num">{fmt(t.metrics[c])}</td>))}
              <td class="arch" title={t.architecture}>{t.architecture}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {page && page.trials.length === 0 && <p>No trial matches.</p>}
      {noiseMarks && <p class="note" id="noise-note">≈best: accuracy within noise of the best trial's (#{best.number}): the difference is at most their combined standard error, so the folds cannot tell them apart.</p>}
      {page && <KeysetPager stack={page.paging.stack} next={page.next_page_token} go={go} size={PAGE} />}
    </section>
  );
}

function Pareto({ searchId, metrics, version, after, onDraw }) {
  // A cost against accuracy: measured latency, else the first cost the
  // trials have (not another quality score such as macro_f1 or accuracy_se).
  const QUALITY = ['accuracy', 'reward', 'accuracy_se', 'balanced_accuracy', 'macro_f1', 'loss'];
  const defaultX = (ms) => (ms.includes('latency_ms') ? 'latency_ms' : COSTS.find((m) => ms.includes(m)) || ms.find((m) => !QUALITY.includes(m)) || 'reward');
  const [axes, setAxes] = useState({ x: defaultX(metrics), y: 'accuracy' });
  const picked = useRef(false);
  const [chart, setChart] = useState(null);
  const [info, setInfo] = useState(null);
  // The metric list grows once the first trial finishes: move off the
  // placeholder axis unless the user chose one.
  useEffect(() => {
    if (!picked.current && axes.x !== defaultX(metrics)) setAxes({ ...axes, x: defaultX(metrics) });
  }, [metrics.join()]);
  // A layout effect: the request goes out before the page is painted, not
  // after (on a busy machine the first paint of a search page took ~1 s).
  const asked = useRef(0);
  useLayoutEffect(() => {
    const n = ++asked.current;
    api(`searches/${searchId}/pareto?${qs(axes)}`, { after })
      .then((p) => {
        if (n !== asked.current) return;  // Other axes were picked since.
        performance.mark('hwnas:pareto-parsed');
        setInfo(p);
        setChart(paretoChart(p));
      })
      .catch((e) => {
        if (n !== asked.current) return;
        setInfo({ error: e.message });
        onDraw?.();
      });
  }, [searchId, axes.x, axes.y, version]);
  const pick = (k) => (e) => {
    picked.current = true;
    setAxes({ ...axes, [k]: e.currentTarget.value });
  };
  return (
    <section>
      <h3>Pareto front</h3>
      <label>x <select id="pareto-x" value={axes.x} onChange={pick('x')}>{metrics.map((m) => <option>{m}</option>)}</select></label>{' '}
      <label>y <select id="pareto-y" value={axes.y} onChange={pick('y')}>{metrics.map((m) => <option>{m}</option>)}</select></label>
      {info?.error && <p class="error">{info.error}</p>}
      {info && !info.error && (
        <p class="note" id="pareto-info">
          {info.front_size} on the front, {info.infeasible} infeasible, {info.points ?? info.x.length} plotted
          {info.missing ? `, ${info.missing} without both metrics` : ''}
          {info.sampled && <span id="pareto-sampled">; drawn: the whole front and one dominated and one infeasible trial per cell of a {info.grid.join('×')} grid ({info.x.length} points)</span>}
        </p>
      )}
      {chart && <Chart id="pareto-chart" opts={chart.opts} data={chart.data} onDraw={onDraw} />}
    </section>
  );
}

function Best({ searchId, version, after }) {
  const [best, setBest] = useState(null);
  useLayoutEffect(() => {
    api(`searches/${searchId}/best?metric=reward`, { after }).then(setBest).catch(() => {});
  }, [searchId, version]);
  const byTrials = useMemo(() => best && bestChart(best, false), [best]);
  const byTime = useMemo(() => best && bestChart(best, true), [best]);
  if (!best || best.value.length === 0) return <section><h3>Best so far</h3><p>No feasible result yet.</p></section>;
  return (
    <section class="pair">
      <div><h3>Best feasible reward vs trials</h3><Chart id="best-trials" opts={byTrials.opts} data={byTrials.data} /></div>
      <div><h3>… vs time</h3><Chart id="best-time" opts={byTime.opts} data={byTime.data} /></div>
    </section>
  );
}

const COSTS = ['latency_ms', 'peak_memory_bytes', 'flash_bytes', 'macs', 'params'];

// Which decisions move accuracy and a cost: the server's first-order
// variance shares per token position; refreshed every 10th change, since it
// reads every SUCCEEDED trial.
// Past AUTO_IMPORTANCE succeeded trials it is computed on request, so it
// does not compete with the charts when a large search opens.
const AUTO_IMPORTANCE = 5000;

function Importance({ searchId, metrics, version, succeeded }) {
  const asked = useMemo(() => [metrics.includes('accuracy') ? 'accuracy' : 'reward', COSTS.find((m) => metrics.includes(m))].filter(Boolean), [metrics]);
  const [data, setData] = useState(null);
  const [wanted, setWanted] = useState(false);
  const on = wanted || succeeded <= AUTO_IMPORTANCE;
  const tick = Math.floor(version / 10);
  useEffect(() => {
    if (!on) return;
    api(`searches/${searchId}/importance?${qs({ metrics: asked.join(',') })}`).then(setData).catch((e) => setData({ error: e.message }));
  }, [searchId, asked.join(), tick, on]);
  if (!on) {
    return (
      <section>
        <h3>Decision importance</h3>
        <button id="importance-compute" onClick={() => setWanted(true)}>Compute over {succeeded} succeeded trials</button>
      </section>
    );
  }
  if (!data) return null;
  if (data.error) return <section><h3>Decision importance</h3><p class="error">{data.error}</p></section>;
  const best = (m, p) => {
    const opts = m.choices[p];
    if (!opts.length) return '';
    const max = m.metric === 'accuracy' || m.metric === 'reward';
    const b = opts.reduce((a, o) => ((max ? o.mean > a.mean : o.mean < a.mean) ? o : a));
    return `${b.token} (${fmt(b.mean)})`;
  };
  return (
    <section>
      <h3>Decision importance</h3>
      <p class="note">Share of each metric's variance over {data.trials} succeeded trials explained by each decision (token position) alone; interactions are not counted.</p>
      <table class="grid" id="importance">
        <thead><tr><th>decision</th>{data.metrics.map((m) => <><th>{m.metric}</th><th>best choice</th></>)}</tr></thead>
        <tbody>
          {Array.from({ length: data.positions }, (_, p) => (
            <tr data-position={p}>
              <td>{p + 1}</td>
              {data.metrics.map((m) => (
                <>
                  <td class="bar"><span style={{ width: (100 * (m.importance[p] || 0)).toFixed(1) + '%' }} /><em>{m.importance[p] == null ? '–' : (100 * m.importance[p]).toFixed(1) + '%'}</em></td>
                  <td class="num">{best(m, p)}</td>
                </>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

// Two searches side by side: summaries, best-so-far on one chart, and both
// searches' points on one scatter.
function Compare({ a, b }) {
  const [x, setX] = useState('latency_ms');
  const [y, setY] = useState('accuracy');
  const { data, error } = usePoll(async () => {
    const [sa, sb] = await Promise.all([api(`searches/${a}`), api(`searches/${b}`)]);
    const [ba, bb, pa, pb] = await Promise.all([
      api(`searches/${a}/best?metric=reward`), api(`searches/${b}/best?metric=reward`),
      api(`searches/${a}/pareto?${qs({ x, y })}`), api(`searches/${b}/pareto?${qs({ x, y })}`),
    ]);
    return { sa, sb, ba, bb, pa, pb };
  }, [a, b, x, y], POLL_MS * 5);
  const charts = useMemo(() => data && { best: compareBestChart(data.ba, data.bb, `#${a}`, `#${b}`), scatter: compareScatterChart(data.pa, data.pb, `#${a}`, `#${b}`) }, [data]);
  if (error && error.status === 404) return <NotFound what={`search ${error.message.includes(a) ? a : `${a} or ${b}`}`} />;
  if (!data) return error ? <p class="error">{error.message}</p> : <p>Loading…</p>;
  const metrics = data.sa.metrics.filter((m) => data.sb.metrics.includes(m));
  const row = (s) => (
    <tr data-search={s.id}>
      <td><a href={`#/search/${s.id}`}>{s.id}</a></td><td>{s.name}</td><td class={'state ' + s.state}>{s.state}</td>
      <td>{s.finished}/{s.budget}</td><td class="num">{fmt(s.best?.metrics?.reward)}</td><td class="num" data-col="accuracy">{accuracyText(s.best?.metrics)}</td>
      <td class="num">{fmt(s.best?.metrics?.balanced_accuracy)}</td><td class="num">{fmt(s.best?.metrics?.macro_f1)}</td>
      <td class="num">{fmt(s.best?.metrics?.latency_ms)}</td><td>{s.rate_per_min.toFixed(1)}/min</td>
    </tr>
  );
  return (
    <div id="compare">
      <h2>Search {a} and search {b}</h2>
      <table class="grid"><thead><tr><th>id</th><th>name</th><th>state</th><th>finished</th><th>best reward</th><th>its accuracy</th><th>balanced accuracy</th><th>macro-F1</th><th>its latency_ms</th><th>rate</th></tr></thead>
        <tbody>{row(data.sa)}{row(data.sb)}</tbody></table>
      {data.sa.best && data.sb.best && data.sa.best.metrics.accuracy_se != null && data.sb.best.metrics.accuracy_se != null && (
        <p class="note" id="compare-noise">{Math.abs(data.sa.best.metrics.accuracy - data.sb.best.metrics.accuracy) <= Math.hypot(data.sa.best.metrics.accuracy_se, data.sb.best.metrics.accuracy_se)
          ? 'The two best accuracies are within noise of each other (difference at most their combined standard error).'
          : 'The two best accuracies differ by more than their combined standard error.'}</p>
      )}
      <section><h3>Best feasible reward vs trials</h3><Chart id="compare-best" opts={charts.best.opts} data={charts.best.data} /></section>
      <section>
        <h3>Trials of both</h3>
        <label>x <select id="compare-x" value={x} onChange={(e) => setX(e.currentTarget.value)}>{metrics.map((m) => <option>{m}</option>)}</select></label>{' '}
        <label>y <select id="compare-y" value={y} onChange={(e) => setY(e.currentTarget.value)}>{metrics.map((m) => <option>{m}</option>)}</select></label>
        <Chart id="compare-scatter" opts={charts.scatter.opts} data={charts.scatter.data} />
      </section>
    </div>
  );
}

function CompareWith({ id }) {
  const [other, setOther] = useState('');
  return (
    <form class="compare-with" onSubmit={(e) => { e.preventDefault(); if (other) location.hash = `#/compare/${id}/${other}`; }}>
      <label>compare with search <input id="compare-with" size="6" value={other} onInput={(e) => setOther(e.currentTarget.value.trim())} /></label>
      <button type="submit">Compare</button>
    </form>
  );
}

function Search({ id, me }) {
  const [version, setVersion] = useState(0);
  const last = useRef(null);
  const { data: s, error } = usePoll(() => api(`searches/${id}`), [id], POLL_MS);
  // Charts and table reload when a trial finishes (or changes state).
  useEffect(() => {
    if (!s) return;
    const key = JSON.stringify(s.counts) + s.state;
    if (last.current !== null && last.current !== key) setVersion((v) => v + 1);
    last.current = key;
  }, [s]);
  const metrics = useMemo(() => s?.metrics || [], [s && s.metrics.join()]);
  // The charts' answers are asked for with the summary but read and drawn
  // after the summary and the first rows are on screen: on a busy machine
  // parsing and drawing them held the page's first render back.
  const gate = useMemo(() => {
    let open;
    const shown = new Promise((r) => (open = r)).then(() => performance.mark('hwnas:charts-allowed'));
    // The best-so-far charts come after the scatter, not beside it.
    let drawn;
    const scatter = new Promise((r) => (drawn = r));
    return { shown, open, rows: false, summary: false, scatter, drawn };
  }, [id]);
  const onShown = useCallback(() => {
    gate.rows = true;
    if (gate.summary) gate.open();
  }, [gate]);
  useEffect(() => {
    if (!s || gate.summary) return;
    performance.mark('hwnas:summary-rendered');
    gate.summary = true;
    if (gate.rows) gate.open();
  });
  if (error && error.status === 404) return <NotFound what={`search ${id}`} />;
  // The table's first page is asked for at once, beside the summary, not
  // after it (one round trip less before the first render); the charts wait
  // for the summary, which names the metrics they plot.
  const table = <TrialsTable searchId={id} metrics={metrics} version={version} best={s?.best} onShown={onShown} />;
  if (!s) {
    return (
      <div class="search-page">
        {error ? <p class="error">{error.message}</p> : <p>Loading…</p>}
        {table}
      </div>
    );
  }
  const cancel = async () => {
    if (!confirm(`Cancel search ${s.id} (${s.name})? Its pending and running trials stop.`)) return;
    try {
      await api(`searches/${id}/cancel`, { method: 'POST' });
      setVersion((v) => v + 1);
    } catch (e) {
      alert(e.message);
    }
  };
  const c = s.counts;
  return (
    <div class="search-page">
    <div id="search" data-finished={s.finished} data-state={s.state}>
      <h2>
        Search {s.id}: {s.name} <span class={'state ' + s.state} id="search-state">{s.state}</span>
        {s.state === 'RUNNING' && (me.admin || me.name === s.owner) && (
          <button class="danger" id="cancel" onClick={cancel}>Cancel search</button>
        )}
      </h2>
      <div class="summary">
        <div><b id="finished">{s.finished}</b> of {s.budget} finished <Progress s={s} /></div>
        <div>{c.running} running, {c.pending} pending, {c.succeeded} succeeded, {c.failed} failed, {c.infeasible} infeasible, {c.early_stopped} stopped early</div>
        <div>rate {s.rate_per_min.toFixed(1)} trials/min{s.eta_seconds != null && `, ETA ${duration(s.eta_seconds)}`}</div>
        <div>owner {s.owner}, space {s.space}, created {when(s.created_at)}</div>
        {s.best && <div>best: trial <a href={`#/search/${id}/trial/${s.best.number}`}>{s.best.number}</a>, reward {fmt(s.best.metrics.reward)}, accuracy <span id="best-accuracy">{accuracyText(s.best.metrics)}</span></div>}
        {s.error && <div class="error">{s.error}</div>}
      </div>
      {s.state === 'RUNNING' && (me.admin || me.name === s.owner) && <Enqueue id={id} onAdded={() => setVersion((v) => v + 1)} />}
      <CompareWith id={id} />
      <Pareto searchId={id} metrics={metrics} version={version} after={gate.shown} onDraw={gate.drawn} />
      <Best searchId={id} version={version} after={gate.scatter} />
      <Importance searchId={id} metrics={metrics} version={version} succeeded={c.succeeded} />
    </div>
    {table}
    </div>
  );
}

// The readable architecture as blocks: MnasNet block strings, NB201 edges
// (|op~input|), temporal/EEG layers are separated by spaces, '+' or '|'.
function ArchitectureBlocks({ readable }) {
  const blocks = readable.split(/\s*\+\s*|\s+/).filter(Boolean);
  return (
    <div class="blocks" id="architecture">
      {blocks.map((b, i) => (
        <div class="block"><small>{i + 1}</small>{b.split('|').filter(Boolean).map((p) => <span>{p}</span>)}</div>
      ))}
    </div>
  );
}

// Per-layer shapes and static costs, as `hwnas-worker describe` prints them
// (computed by the server from the spec's space; no training).
function Layers({ layers }) {
  if (!layers) return null;
  if (!layers.ops) return <section><h3>Layers</h3><p class="note" id="layers-note">{layers.note}</p></section>;
  const bytes = (v) => (v >= 1024 ? fmt(v / 1024) + ' KiB' : v + ' B');
  return (
    <section>
      <h3>Layers ({layers.ops.length})</h3>
      <table class="grid" id="layers">
        <thead><tr><th>#</th><th>layer</th><th>type</th><th>output</th><th>params</th><th>MACs</th><th>flash</th><th>live memory</th><th>weight bits</th></tr></thead>
        <tbody>
          {layers.ops.map((o, i) => (
            <tr data-op={i} class={i === layers.peak_op ? 'peak' : ''}>
              <td>{i}</td><td>{o.name}</td><td>{o.type}</td><td>{o.output_shape}</td><td class="num">{fmt(o.params)}</td>
              <td class="num">{fmt(o.macs)}</td><td class="num">{bytes(o.flash_bytes)}</td>
              <td class="num" title={i === layers.peak_op ? 'the peak of live activation memory' : ''}>{bytes(o.live_bytes)}</td><td>{o.weight_bits}</td>
            </tr>
          ))}
        </tbody>
        <tfoot><tr><th colspan="4">total</th><td class="num">{fmt(layers.totals.params)}</td><td class="num">{fmt(layers.totals.macs)}</td>
          <td class="num">{bytes(layers.totals.flash_bytes)}</td><td class="num">peak {bytes(layers.totals.peak_activation_bytes)}</td><td /></tr></tfoot>
      </table>
    </section>
  );
}

function Trial({ id, number }) {
  const { data: t, error } = usePoll(() => api(`searches/${id}/trials/${number}`), [id, number], POLL_MS * 2);
  const curve = useMemo(() => (t && t.epochs.length ? epochChart(t.epochs) : null), [t && t.epochs.length, t && t.state]);
  if (error && error.status === 404) return <NotFound what={`trial ${number} of search ${id}`} />;
  if (!t) return error ? <p class="error">{error.message}</p> : <p>Loading…</p>;
  return (
    <div id="trial" data-state={t.state}>
      <p><a href={`#/search/${id}`}>‹ search {id}</a></p>
      <h2>Trial {t.number} <span class={'state ' + t.state}>{t.state}</span></h2>
      {t.failure_reason && <p class="error">{t.failure_reason}</p>}
      <div class="pair">
        <table class="grid kv">
          <tbody>
            {Object.entries(t.metrics).filter(([k, v]) => v != null && k !== 'accuracy_se').map(([k, v]) => (
              <tr data-metric={k}><th>{k}</th><td class="num">{k === 'accuracy' ? accuracyText(t.metrics) : fmt(v)}</td></tr>
            ))}
            {t.fold_accuracy.length > 0 && (
              <tr id="folds"><th>accuracy per fold ({t.fold_accuracy.length})</th><td class="num">{t.fold_accuracy.map((a) => a.toFixed(4)).join(', ')}</td></tr>
            )}
            {t.latency && <tr><th>latency measured</th><td>{t.latency.runs} runs, {t.latency.threads} threads, {t.latency.device}</td></tr>}
            <tr><th>epochs</th><td>{t.epochs_trained}</td></tr>
            <tr><th>worker</th><td>{t.worker_id}</td></tr>
            <tr><th>attempts</th><td>{t.attempts}</td></tr>
            <tr><th>started</th><td>{when(t.started_at)}</td></tr>
            <tr><th>finished</th><td>{when(t.finished_at)}</td></tr>
          </tbody>
        </table>
        <div>
          <h3>Architecture ({t.space} v{t.space_version})</h3>
          <ArchitectureBlocks readable={t.architecture} />
          <p class="note">tokens: {t.tokens.join(' ')}</p>
        </div>
      </div>
      <Layers layers={t.layers} />
      <h3>Epoch curves</h3>
      {curve ? <Chart id="epoch-chart" opts={curve.opts} data={curve.data} /> : <p>No per-epoch metrics (a table lookup, or not started).</p>}
    </div>
  );
}

function App() {
  const route = useRoute();
  const [me, setMe] = useState(null);
  const [loginMessage, setLoginMessage] = useState('');
  const [online, setOnline] = useState(true);
  const [, force] = useState(0);
  useEffect(() => onOnline(setOnline), []);
  const check = useCallback(() => {
    if (!getToken()) return setMe(null);
    api('me').then(setMe).catch((e) => {
      if (e.status === 401) setMe(null);
      else setTimeout(check, POLL_MS);
    });
  }, []);
  useEffect(() => {
    check();
    const out = () => {
      setMe(null);
      setLoginMessage('Your token is no longer valid: sign in again.');
    };
    const inn = () => (setLoginMessage(''), check(), force((x) => x + 1));
    window.addEventListener('hwnas-logout', out);
    window.addEventListener('hwnas-login', inn);
    return () => {
      window.removeEventListener('hwnas-logout', out);
      window.removeEventListener('hwnas-login', inn);
    };
  }, []);
  const banner = !online && <div class="banner" id="reconnecting">Reconnecting to the server…</div>;
  if (!getToken()) return <>{banner}<Login message={loginMessage} /></>;
  // The page's own calls go out while "me" is still on its way (a token that
  // is refused logs out on any 401); until then the user is unnamed.
  const user = me || { name: '', admin: false };
  const logout = () => {
    clearToken();
    setMe(null);
    location.hash = '#/';
  };
  let page;
  if (route[0] === 'search' && route[1] && route[2] === 'trial' && route[3]) page = <Trial id={route[1]} number={route[3]} />;
  else if (route[0] === 'search' && route[1]) page = <Search id={route[1]} me={user} />;
  else if (route[0] === 'compare' && route[1] && route[2]) page = <Compare a={route[1]} b={route[2]} />;
  else if (route.length === 0) page = <Searches />;
  else page = <NotFound what="page" />;
  return (
    <>
      {banner}
      <header>
        <a href="#/" class="brand">hwnas</a>
        <span class="user" id="user">{user.name}{user.admin ? ' (admin)' : ''}</span>
        <button id="logout" onClick={logout}>Log out</button>
      </header>
      <main>{page}</main>
    </>
  );
}

render(<App />, document.getElementById('app'));
