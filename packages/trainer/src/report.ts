import type { MetricRecord } from './metrics.js';

/** Options for the HTML report. */
export interface ReportOptions {
  title?: string;
  /** Free-form facts shown at the top (model, data, backend …). */
  info?: Record<string, string | number>;
}

const esc = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

/**
 * A self-contained HTML report (no network: inline CSS, inline data, charts drawn as SVG by an inline
 * script): train/val loss, learning rate, tokens/s, gradient norm, the sample generations per evaluation,
 * and the final metrics. After drawing, the script sets `data-charts-rendered` on <body> to the number of
 * charts drawn; a script error sets `data-js-error`.
 */
export function renderReport(records: MetricRecord[], options: ReportOptions = {}): string {
  const train = records.filter((r) => r.type === 'train');
  const evals = records.filter((r) => r.type === 'eval');
  const end = records.filter((r) => r.type === 'end').at(-1);
  const start = records.find((r) => r.type === 'start');
  const last = train.at(-1);
  const lastEval = evals.at(-1);
  const data = {
    loss: train.map((r) => [r.step, r.loss]),
    val: evals.map((r) => [r.step, r.valLoss]),
    lr: train.map((r) => [r.step, r.lr]),
    tps: train.map((r) => [r.step, r.tokensPerSec]),
    gnorm: train.map((r) => [r.step, r.gradNorm]),
  };
  const fmt = (x: number | null | undefined, d = 4) =>
    x === null || x === undefined || !Number.isFinite(x) ? '—' : Number(x.toPrecision(d)).toString();
  const final: [string, string][] = [
    ['status', end ? `${end.status}${end.reason ? ` (${end.reason})` : ''}` : 'running'],
    ['steps', last ? String(last.step) : '0'],
    ['final train loss', fmt(last?.loss)],
    ['final val loss', fmt(lastEval?.valLoss)],
    ['final val perplexity', fmt(lastEval?.perplexity)],
    ['best val loss', end ? `${fmt(end.bestValLoss)} at step ${end.bestStep ?? '—'}` : '—'],
    ['tokens seen', end ? String(end.tokensSeen) : '—'],
    ['wall time', end ? `${(end.elapsedMs / 1000).toFixed(1)} s` : '—'],
    ['parameters (trainable / total)', start ? `${start.trainableParams} / ${start.params}` : '—'],
    ...Object.entries(options.info ?? {}).map(([k, v]): [string, string] => [k, String(v)]),
  ];
  const samples = evals
    .filter((e) => e.samples.length > 0)
    .map(
      (e) =>
        `<h3>step ${e.step} — val loss ${fmt(e.valLoss)}</h3><table class="samples">${e.samples
          .map((s) => `<tr><td class="prompt">${esc(s.prompt)}</td><td>${esc(s.text)}</td></tr>`)
          .join('')}</table>`,
    )
    .join('\n');
  // JSON inside <script>: escape "<" so the data can never close the tag.
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  const title = esc(options.title ?? 'Atelier training report');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px}
figure{margin:0;border:1px solid #ddd;border-radius:6px;padding:8px}
figcaption{font-weight:600;margin-bottom:4px}
svg{width:100%;height:auto;display:block}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:4px 8px;vertical-align:top;text-align:left}
.samples td{white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:12px}.prompt{color:#555}
.legend span{margin-right:12px}
</style></head>
<body>
<h1>${title}</h1>
<table class="final">${final.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>
<h2>Curves</h2>
<div class="grid">
<figure><figcaption>Loss <span class="legend"><span style="color:#1f77b4">■ train</span><span style="color:#d62728">■ validation</span></span></figcaption><svg data-chart="loss" viewBox="0 0 520 260"></svg></figure>
<figure><figcaption>Learning rate</figcaption><svg data-chart="lr" viewBox="0 0 520 260"></svg></figure>
<figure><figcaption>Throughput (tokens/s)</figcaption><svg data-chart="tps" viewBox="0 0 520 260"></svg></figure>
<figure><figcaption>Gradient norm (before clipping)</figcaption><svg data-chart="gnorm" viewBox="0 0 520 260"></svg></figure>
</div>
<h2>Samples per evaluation</h2>
${samples || '<p>No sample prompts configured.</p>'}
<script id="report-data" type="application/json">${json}</script>
<script>window.addEventListener('error', function (e) { document.body.setAttribute('data-js-error', String(e.message)); });</script>
<script>
(function () {
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var NS = 'http://www.w3.org/2000/svg';
  function el(name, attrs, parent) {
    var n = document.createElementNS(NS, name);
    for (var k in attrs) n.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(n);
    return n;
  }
  function nice(v) { return Math.abs(v) >= 1000 ? v.toFixed(0) : Number(v.toPrecision(3)).toString(); }
  function draw(svg, series) {
    var W = 520, H = 260, L = 60, R = 10, T = 10, B = 30;
    var pts = [].concat.apply([], series.map(function (s) { return s.points; })).filter(function (p) { return isFinite(p[1]); });
    if (pts.length === 0) { el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', fill: '#888' }, svg).textContent = 'no data yet'; return false; }
    var x0 = Math.min.apply(null, pts.map(function (p) { return p[0]; })), x1 = Math.max.apply(null, pts.map(function (p) { return p[0]; }));
    var y0 = Math.min.apply(null, pts.map(function (p) { return p[1]; })), y1 = Math.max.apply(null, pts.map(function (p) { return p[1]; }));
    if (x1 === x0) x1 = x0 + 1; if (y1 === y0) { y1 = y0 + Math.abs(y0 || 1) * 0.05; y0 = y0 - Math.abs(y0 || 1) * 0.05; }
    var sx = function (x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
    var sy = function (y) { return T + (1 - (y - y0) / (y1 - y0)) * (H - T - B); };
    el('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: '#999' }, svg);
    el('line', { x1: L, y1: T, x2: L, y2: H - B, stroke: '#999' }, svg);
    for (var i = 0; i <= 4; i++) {
      var yv = y0 + (y1 - y0) * i / 4, xv = x0 + (x1 - x0) * i / 4;
      el('text', { x: L - 4, y: sy(yv) + 4, 'text-anchor': 'end', 'font-size': 10, fill: '#555' }, svg).textContent = nice(yv);
      el('line', { x1: L, y1: sy(yv), x2: W - R, y2: sy(yv), stroke: '#eee' }, svg);
      el('text', { x: sx(xv), y: H - B + 14, 'text-anchor': 'middle', 'font-size': 10, fill: '#555' }, svg).textContent = String(Math.round(xv));
    }
    el('text', { x: W - R, y: H - 2, 'text-anchor': 'end', 'font-size': 10, fill: '#555' }, svg).textContent = 'step';
    series.forEach(function (s) {
      var p = s.points.filter(function (q) { return isFinite(q[1]); });
      if (p.length === 0) return;
      var d = p.map(function (q, i) { return (i ? 'L' : 'M') + sx(q[0]).toFixed(1) + ' ' + sy(q[1]).toFixed(1); }).join(' ');
      el('path', { d: d, fill: 'none', stroke: s.color, 'stroke-width': 1.5, 'data-series': s.name }, svg);
      if (s.dots) p.forEach(function (q) { el('circle', { cx: sx(q[0]), cy: sy(q[1]), r: 3, fill: s.color }, svg); });
    });
    return true;
  }
  var charts = {
    loss: [{ name: 'train', points: data.loss, color: '#1f77b4' }, { name: 'val', points: data.val, color: '#d62728', dots: true }],
    lr: [{ name: 'lr', points: data.lr, color: '#2ca02c' }],
    tps: [{ name: 'tokens/s', points: data.tps, color: '#9467bd' }],
    gnorm: [{ name: 'grad norm', points: data.gnorm, color: '#ff7f0e' }]
  };
  var rendered = 0;
  document.querySelectorAll('svg[data-chart]').forEach(function (svg) {
    if (draw(svg, charts[svg.getAttribute('data-chart')])) rendered++;
  });
  document.body.setAttribute('data-charts-rendered', String(rendered));
})();
</script>
</body></html>
`;
}
