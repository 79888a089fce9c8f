// uPlot charts: canvas drawing that stays fast at 100k points.
import { useLayoutEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

// Mounts a uPlot on `data`, rebuilt when `opts` (its key) or data change.
export function Chart({ opts, data, id, onDraw }) {
  const box = useRef(null);
  // A layout effect: the plot is built in the task that rendered its box,
  // not after a frame (Preact runs plain effects after the next paint, a
  // few hundred milliseconds on a starved machine).
  useLayoutEffect(() => {
    if (!box.current || !data) return undefined;
    const width = Math.max(300, box.current.clientWidth || 600);
    const el = box.current;
    const t0 = performance.now();
    // uPlot paints after its constructor returns: the time (and the
    // data-draw-ms that tests and the benchmark wait for) is taken when the
    // first paint is done.
    let painted = false;
    const hooks = { ...(opts.hooks || {}), draw: [...(opts.hooks?.draw || []), () => {
      if (painted) return;
      painted = true;
      el.dataset.points = String(data[0].length);
      el.dataset.drawMs = String(performance.now() - t0);
      if (onDraw) onDraw(performance.now() - t0);
    }] };
    const plot = new uPlot({ width, height: 320, ...opts, hooks }, data, el);
    return () => plot.destroy();
  }, [opts, data]);
  return <div class="chart" id={id} ref={box} />;
}

const fmt = (v) =>
  v == null ? '' : Math.abs(v) >= 1e4 ? v.toExponential(2) : +v.toPrecision(4) + '';

// Points of a large scatter as filled squares, at most one per square of the
// canvas. uPlot's default draws every point as a stroked and filled circle
// in one path: at 100,000 points that path took Chromium's software
// rasterizer seconds (the scatter appeared ~4 s after its data), while a
// square per occupied cell looks the same at this size and costs
// milliseconds. Points outside the plot area are skipped.
function squares(cssSize) {
  return (u, si, i0, i1) => {
    const d = Math.max(1, Math.round(cssSize * devicePixelRatio));
    const { left, top, width, height } = u.bbox;
    const cols = Math.ceil(width / d) + 1;
    const seen = new Uint8Array(cols * (Math.ceil(height / d) + 1));
    const xs = u.data[0];
    const ys = u.data[si];
    const scale = u.series[si].scale;
    const fill = new Path2D();
    for (let i = i0; i <= i1; i++) {
      const y = ys[i];
      if (y == null) continue;
      const px = u.valToPos(xs[i], 'x', true) - left;
      const py = u.valToPos(y, scale, true) - top;
      if (!(px >= 0 && px <= width && py >= 0 && py <= height)) continue;
      const cell = Math.floor(py / d) * cols + Math.floor(px / d);
      if (seen[cell]) continue;
      seen[cell] = 1;
      fill.rect(left + Math.floor(px / d) * d, top + Math.floor(py / d) * d, d, d);
    }
    const clip = new Path2D();
    clip.rect(left, top, width, height);
    return { stroke: null, fill, clip, flags: 0 };
  };
}

// Pareto scatter: columnar answer of /pareto -> three point series
// (dominated, infeasible, front) sharing x, and the front as a line.
export function paretoChart(p) {
  const n = p.x.length;
  const dominated = new Array(n).fill(null);
  const infeasible = new Array(n).fill(null);
  const front = new Array(n).fill(null);
  for (let i = 0; i < n; i++) {
    const k = p.kind[i];
    (k === 1 ? front : k === 2 ? infeasible : dominated)[i] = p.y[i];
  }
  const pts = (stroke, fill, size) => ({ show: true, size, space: 0, stroke, fill, width: 1 });
  const many = (color, size) => ({ show: true, size, space: 0, stroke: color, fill: color, width: 0, paths: squares(size) });
  const opts = {
    mode: 1,
    scales: { x: { time: false } },
    legend: { show: true },
    cursor: { drag: { x: true, y: true }, points: { show: false } },
    axes: [
      { label: p.x_metric + ' (' + p.x_goal + ')', values: (u, vs) => vs.map(fmt) },
      { label: p.y_metric + ' (' + p.y_goal + ')', values: (u, vs) => vs.map(fmt), size: 70 },
    ],
    series: [
      { label: p.x_metric, value: (u, v) => fmt(v) },
      { label: 'dominated', paths: () => null, points: many('#9aa5b1', 3) },
      { label: 'infeasible', paths: () => null, points: many('#d64545', 3) },
      { label: 'front', spanGaps: true, stroke: '#1f6feb', width: 2, points: pts('#1f6feb', '#1f6feb', 6) },
    ],
  };
  return { opts, data: [p.x, dominated, infeasible, front] };
}

export function bestChart(b, byTime) {
  const opts = {
    scales: { x: { time: false } },
    cursor: { points: { show: false } },
    axes: [
      { label: byTime ? 'seconds since the search started' : 'finished trials' },
      { label: 'best feasible ' + b.metric, values: (u, vs) => vs.map(fmt), size: 70 },
    ],
    series: [
      {},
      {
        label: 'best ' + b.metric,
        stroke: '#1f6feb',
        width: 2,
        paths: uPlot.paths.stepped({ align: 1 }),
        value: (u, v) => fmt(v),
      },
    ],
  };
  return { opts, data: [byTime ? b.seconds : b.trials, b.value] };
}

const COLORS = ['#1f6feb', '#d64545', '#2da44e', '#bf8700', '#8250df', '#57606a'];

export function epochChart(epochs) {
  const names = [...new Set(epochs.flatMap((e) => Object.keys(e.values)))].sort();
  const x = epochs.map((e) => e.epoch);
  const data = [x, ...names.map((n) => epochs.map((e) => e.values[n] ?? null))];
  const opts = {
    scales: { x: { time: false } },
    axes: [{ label: 'epoch' }, { values: (u, vs) => vs.map(fmt), size: 70 }],
    series: [
      {},
      ...names.map((n, i) => ({ label: n, stroke: COLORS[i % COLORS.length], width: 2, value: (u, v) => fmt(v) })),
    ],
  };
  return { opts, data };
}

// Merges two series keyed by x into uPlot's one shared, ascending x column.
function mergeByX(xa, ya, xb, yb) {
  const rows = [];
  for (let i = 0; i < xa.length; i++) rows.push([xa[i], ya[i], null]);
  for (let i = 0; i < xb.length; i++) rows.push([xb[i], null, yb[i]]);
  rows.sort((p, q) => p[0] - q[0]);
  return [rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2])];
}

export function compareBestChart(a, b, la, lb) {
  const opts = {
    scales: { x: { time: false } },
    cursor: { points: { show: false } },
    axes: [{ label: 'finished trials' }, { label: 'best feasible ' + a.metric, values: (u, vs) => vs.map(fmt), size: 70 }],
    series: [
      {},
      { label: la, stroke: COLORS[0], width: 2, spanGaps: true, paths: uPlot.paths.stepped({ align: 1 }), value: (u, v) => fmt(v) },
      { label: lb, stroke: COLORS[1], width: 2, spanGaps: true, paths: uPlot.paths.stepped({ align: 1 }), value: (u, v) => fmt(v) },
    ],
  };
  return { opts, data: mergeByX(a.trials, a.value, b.trials, b.value) };
}

export function compareScatterChart(a, b, la, lb) {
  const pts = (c) => ({ show: true, size: 3, space: 0, stroke: c, fill: c, width: 0, paths: squares(3) });
  const opts = {
    mode: 1,
    scales: { x: { time: false } },
    cursor: { drag: { x: true, y: true }, points: { show: false } },
    axes: [
      { label: a.x_metric, values: (u, vs) => vs.map(fmt) },
      { label: a.y_metric, values: (u, vs) => vs.map(fmt), size: 70 },
    ],
    series: [
      { label: a.x_metric, value: (u, v) => fmt(v) },
      { label: la, paths: () => null, points: pts(COLORS[0]) },
      { label: lb, paths: () => null, points: pts(COLORS[1]) },
    ],
  };
  return { opts, data: mergeByX(a.x, a.y, b.x, b.y) };
}

export { fmt };
