// The run report as one HTML file: summary, the four charts (inline SVG), checkpoints and the run's
// settings. Everything is inline (styles, charts, a small hover script), so the file can be mailed or
// opened from disk with no network.
import path from 'node:path';
import type { EvaluationReport } from '../eval/evaluate.js';
import YAML from 'yaml';
import { formatBytes, formatCount, thousands } from '../log/format.js';
import { hasPoints, runCharts } from './chart.js';
import type { MetricsRow, RunRecord } from './run-record.js';
import { escapeXml, svgChart } from './svg-chart.js';

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1500px; padding: 0 16px; color: #1d2330; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.muted { color: #667085; }
.summary { display: flex; flex-wrap: wrap; gap: 8px 28px; margin: 14px 0; }
.summary div b { display: block; font-size: 18px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 16px; }
.chart-box { position: relative; border: 1px solid #e4e7ec; border-radius: 6px; padding: 6px; }
svg.chart { width: 100%; height: auto; display: block; }
svg .title { font-size: 15px; font-weight: 600; fill: #1d2330; }
svg .tick, svg .axis-label, svg .legend { font-size: 12px; fill: #475467; }
svg .grid { stroke: #eef0f3; } svg .frame { fill: none; stroke: #d0d5dd; }
svg .cursor { stroke: #98a2b3; stroke-dasharray: 3 3; }
.readout { position: absolute; pointer-events: none; background: #fff; border: 1px solid #d0d5dd; border-radius: 4px; padding: 4px 8px; font-size: 12px; white-space: nowrap; display: none; }
table { border-collapse: collapse; } td, th { padding: 4px 14px 4px 0; text-align: right; } td:first-child, th:first-child { text-align: left; }
th { border-bottom: 1px solid #d0d5dd; font-weight: 600; }
pre { background: #f6f7f9; padding: 12px; border-radius: 6px; overflow: auto; max-height: 600px; font-size: 12.5px; }
`;

// Hover: a dashed cursor and the nearest logged point of each series. Reads what svg-chart.ts wrote.
const SCRIPT = `
for (const svg of document.querySelectorAll('svg.chart')) {
  const [left, top, width, height, x0, x1] = svg.dataset.plot.split(',').map(Number);
  const box = svg.parentElement, readout = box.querySelector('.readout');
  const series = [...svg.querySelectorAll('polyline.series')].map((line) => ({ label: line.dataset.label, points: JSON.parse(line.dataset.points) }));
  const cursor = document.createElementNS('http://www.w3.org/2000/svg', 'line');
  cursor.setAttribute('class', 'cursor'); cursor.setAttribute('y1', top); cursor.setAttribute('y2', top + height); cursor.style.display = 'none';
  svg.appendChild(cursor);
  const nearest = (points, x) => points.reduce((best, p) => (Math.abs(p[0] - x) < Math.abs(best[0] - x) ? p : best), points[0]);
  svg.addEventListener('mousemove', (event) => {
    const at = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
    if (at.x < left || at.x > left + width) { cursor.style.display = readout.style.display = 'none'; return; }
    const x = x0 + ((at.x - left) / width) * (x1 - x0);
    const lines = series.filter((s) => s.points.length).map((s) => { const p = nearest(s.points, x); return s.label + ': ' + Number(p[1].toPrecision(5)) + ' at ' + p[0].toLocaleString('en-US'); });
    cursor.setAttribute('x1', at.x); cursor.setAttribute('x2', at.x); cursor.style.display = '';
    readout.innerHTML = lines.map((l) => l.replace(/&/g, '&amp;').replace(/</g, '&lt;')).join('<br>');
    readout.style.display = 'block';
    readout.style.left = Math.min(event.offsetX + 14, box.clientWidth - readout.offsetWidth - 4) + 'px';
    readout.style.top = event.offsetY + 14 + 'px';
  });
  svg.addEventListener('mouseleave', () => { cursor.style.display = readout.style.display = 'none'; });
}
`;

export function reportHtml(run: RunRecord, writtenAt = new Date()): string {
  const name = path.basename(path.resolve(run.outDir));
  const settings = parseSettings(run.hyperparametersYaml);
  const charts = runCharts(run.rows).filter(hasPoints);
  const chartMarkup =
    charts.length > 0
      ? charts.map((chart) => `<div class="chart-box">${svgChart(chart)}<div class="readout"></div></div>`).join('\n')
      : '<p class="muted">No training or validation rows logged yet.</p>';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(`${name}: minilm run report`)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeXml(name)}</h1>
<div class="muted">${escapeXml(path.resolve(run.outDir))} &middot; ${escapeXml(settings.model ?? 'model not recorded yet')} &middot; report written ${escapeXml(writtenAt.toISOString().replace('T', ' ').slice(0, 19))} UTC</div>
${summaryMarkup(run.rows)}
<div class="charts">
${chartMarkup}
</div>
${sourcesMarkup(run.rows)}
${evaluationMarkup(run.evaluation)}
<h2>Checkpoints</h2>
${checkpointsMarkup(run)}
<h2>Config</h2>
${
  run.hyperparametersYaml === null
    ? '<p class="muted">No checkpoint yet: the settings are written with the first one (hyperparameters.yaml).</p>'
    : `<p class="muted">hyperparameters.yaml of the newest checkpoint</p><pre>${escapeXml(run.hyperparametersYaml)}</pre>`
}
<script>${SCRIPT}</script>
</body>
</html>
`;
}

function parseSettings(yaml: string | null): { model: string | null } {
  if (yaml === null) return { model: null };
  try {
    const tree = YAML.parse(yaml) as { model_name?: unknown; model_config?: { name?: unknown } } | null;
    const model = tree?.model_name ?? tree?.model_config?.name;
    return { model: typeof model === 'string' && model !== '' ? `model ${model}` : null };
  } catch {
    return { model: null };
  }
}

/** The "Evaluation" section: what `minilm eval` measured (evaluation.json), when it has run. */
function evaluationMarkup(report: EvaluationReport | null): string {
  if (report === null) return '';
  const cell = (x: number | null | undefined, digits: number) => (x == null ? '-' : x.toFixed(digits));
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const tableOf = (head: string[], rows: string[][]) =>
    `<table><tr>${head.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr>${rows
      .map((r) => `<tr>${r.map((c) => `<td>${escapeXml(c)}</td>`).join('')}</tr>`)
      .join('')}</table>`;
  const parts = [`<h2>Evaluation</h2><p class="muted">${escapeXml(report.checkpoint)}, ${escapeXml(report.date.slice(0, 19).replace('T', ' '))} UTC</p>`];
  if (report.data) {
    const rows = [...report.data.inputs.map((i) => ({ name: i.name, f: i.figures })), { name: 'total', f: report.data.total }];
    parts.push(
      tableOf(
        ['data', 'tokens', 'loss', 'perplexity', 'bits per byte'],
        rows.map(({ name, f }) => [name, thousands(f.tokens), cell(f.loss, 4), cell(f.perplexity, 2), cell(f.bitsPerByte, 4)]),
      ),
    );
  }
  if (report.tasks) {
    const ci = (a: { value: number; low: number; high: number }) => `${pct(a.value)} (${pct(a.low)}-${pct(a.high)})`;
    parts.push(
      tableOf(
        ['task', 'items', 'acc (95% interval)', 'acc_norm', 'chance'],
        report.tasks.map((t) => [t.path, thousands(t.items.length), ci(t.accuracy), t.accuracyNorm ? ci(t.accuracyNorm) : '-', pct(t.chance)]),
      ),
    );
  }
  if (report.generation) {
    const s = report.generation.stats;
    parts.push(
      tableOf(
        ['samples', 'distinct-1', 'distinct-2', 'repeated 4-grams', 'looping'],
        [[String(s.samples), s.distinct1.toFixed(3), s.distinct2.toFixed(3), pct(s.repeated4gramShare), pct(s.loopingShare)]],
      ),
    );
  }
  return parts.join('\n');
}

function summaryMarkup(rows: MetricsRow[]): string {
  const trained = rows.filter((row) => row.loss !== undefined);
  const validated = rows.filter((row) => row.val_loss !== undefined && Number.isFinite(row.val_loss));
  const last = trained.at(-1);
  const bestVal = validated.reduce<MetricsRow | undefined>((best, row) => (best === undefined || row.val_loss! < best.val_loss! ? row : best), undefined);
  const recent = trained
    .slice(-20)
    .map((row) => row.tokens_per_sec)
    .filter((v): v is number => v !== undefined);
  const cells: Array<[string, string]> = [
    ['step', last ? thousands(last.step) : '-'],
    ['tokens seen', last?.tokens !== undefined ? formatCount(last.tokens) : '-'],
    ['train loss', last?.loss !== undefined ? last.loss.toFixed(4) : '-'],
    ['best val loss', bestVal ? `${bestVal.val_loss!.toFixed(4)} (step ${thousands(bestVal.step)})` : '-'],
    ['its val bits per byte', bestVal?.val_bpb !== undefined ? bestVal.val_bpb.toFixed(4) : '-'],
    ['tokens/s (last 20 logs)', recent.length ? thousands(Math.round(recent.reduce((a, b) => a + b, 0) / recent.length)) : '-'],
  ];
  return `<div class="summary">${cells.map(([label, value]) => `<div><span class="muted">${escapeXml(label)}</span><b>${escapeXml(value)}</b></div>`).join('')}</div>`;
}

/** A mixture run's sources (metrics.csv's tokens/NAME and val_loss/NAME columns): tokens, share, latest val loss. */
function sourcesMarkup(rows: MetricsRow[]): string {
  const cells = (row: MetricsRow) => row as unknown as Record<string, number | undefined>;
  const names = [
    ...new Set(
      rows.flatMap((row) =>
        Object.keys(row)
          .filter((k) => k.startsWith('tokens/'))
          .map((k) => k.slice('tokens/'.length)),
      ),
    ),
  ];
  if (names.length === 0) return '';
  const latest = (column: string) =>
    rows
      .map((row) => cells(row)[column])
      .filter((v): v is number => v !== undefined && Number.isFinite(v))
      .at(-1);
  const total = names.reduce((sum, name) => sum + (latest(`tokens/${name}`) ?? 0), 0);
  const lines = names.map((name) => {
    const tokens = latest(`tokens/${name}`) ?? 0;
    const val = latest(`val_loss/${name}`);
    const row = [name, formatCount(tokens), `${((100 * tokens) / Math.max(total, 1)).toFixed(1)}%`, val === undefined ? '-' : val.toFixed(4)];
    return `<tr>${row.map((cell) => `<td>${escapeXml(cell)}</td>`).join('')}</tr>`;
  });
  return `<h2>Mixture sources</h2>\n<table><tr><th>source</th><th>tokens seen</th><th>share</th><th>latest val loss</th></tr>\n${lines.join('\n')}\n</table>`;
}

function checkpointsMarkup(run: RunRecord): string {
  if (run.checkpoints.length === 0) return '<p class="muted">None yet.</p>';
  const valAt = new Map(run.rows.filter((row) => row.val_loss !== undefined).map((row) => [row.step, row.val_loss!]));
  const rows = run.checkpoints.map((c) => {
    const val = c.step === null ? undefined : valAt.get(c.step);
    const cells = [
      c.name,
      c.step === null ? '-' : thousands(c.step),
      c.tokens === null ? '-' : formatCount(c.tokens),
      val === undefined ? '-' : val.toFixed(4),
      formatBytes(c.bytes),
      c.savedAt.toISOString().replace('T', ' ').slice(0, 19),
    ];
    return `<tr>${cells.map((cell) => `<td>${escapeXml(cell)}</td>`).join('')}</tr>`;
  });
  return `<table><tr><th>folder</th><th>step</th><th>tokens</th><th>val loss</th><th>size</th><th>saved (UTC)</th></tr>\n${rows.join('\n')}\n</table>`;
}
