// The charts of a run report, independent of how they are drawn: which series each chart plots against
// tokens seen, the axis ranges and their tick marks. The HTML page (svg-chart.ts) and the PNG
// (loss-png.ts) both draw from these, so the two show the same plot.
import type { MetricName, MetricsRow } from './run-record.js';

export interface Series {
  label: string;
  color: string;
  /** Dots at each point (validation runs every few hundred steps) instead of a line alone. */
  dots: boolean;
  points: Array<[number, number]>;
}

export interface Chart {
  id: string;
  title: string;
  xLabel: string;
  series: Series[];
  formatY: (value: number) => string;
}

export interface Axis {
  min: number;
  max: number;
  ticks: number[];
}

export const TRAIN_COLOR = '#1f6fd1';
export const VAL_COLOR = '#e0661b';
const PLAIN_COLOR = '#2a9d5c';

/** The report's charts, in page order. Each leaves out rows that lack its metric (the DPO ones show only for a DPO run's rows). */
export function runCharts(rows: MetricsRow[]): Chart[] {
  // litgpt's own CSV has no tokens column; its runs are plotted against steps instead.
  const byTokens = rows.some((row) => row.tokens !== undefined);
  const x = (row: MetricsRow) => (byTokens ? row.tokens : row.step);
  const xLabel = byTokens ? 'tokens seen' : 'step';
  const series = (name: MetricName, label: string, color: string, dots = false, scale = 1): Series => ({
    label,
    color,
    dots,
    points: rows.flatMap((row) => {
      const [px, py] = [x(row), row[name]];
      return px !== undefined && py !== undefined && Number.isFinite(py) ? [[px, py * scale] as [number, number]] : [];
    }),
  });
  return [
    {
      id: 'loss',
      title: 'Loss',
      xLabel,
      series: [series('loss', 'train loss', TRAIN_COLOR), series('val_loss', 'val loss', VAL_COLOR, true)],
      formatY: formatValue,
    },
    { id: 'lr', title: 'Learning rate', xLabel, series: [series('learning_rate', 'learning rate', PLAIN_COLOR)], formatY: formatValue },
    { id: 'throughput', title: 'Throughput (tokens/s)', xLabel, series: [series('tokens_per_sec', 'tokens/s', PLAIN_COLOR)], formatY: formatCompact },
    { id: 'mfu', title: 'Model FLOPs utilisation (%)', xLabel, series: [series('mfu', 'MFU %', PLAIN_COLOR, false, 100)], formatY: formatValue },
    {
      id: 'dpo-accuracies',
      title: 'DPO: pairs whose chosen reply wins (%)',
      xLabel,
      series: [
        series('rewards/accuracies', 'rewards/accuracies %', TRAIN_COLOR, false, 100),
        series('val_rewards/accuracies', 'val_rewards/accuracies %', VAL_COLOR, true, 100),
      ],
      formatY: formatValue,
    },
    {
      id: 'dpo-margins',
      title: 'DPO: reward margin (chosen - rejected)',
      xLabel,
      series: [series('rewards/margins', 'rewards/margins', TRAIN_COLOR), series('val_rewards/margins', 'val_rewards/margins', VAL_COLOR, true)],
      formatY: formatValue,
    },
  ];
}

export function hasPoints(chart: Chart): boolean {
  return chart.series.some((s) => s.points.length > 0);
}

/** Axis ranges for a chart: y from the data (not from zero: a loss curve lives between 2 and 10). */
export function chartAxes(chart: Chart, tickCount = 5): { x: Axis; y: Axis } {
  const points = chart.series.flatMap((s) => s.points);
  const xs = points.map(([px]) => px);
  const ys = points.map(([, py]) => py);
  return { x: niceAxis(Math.min(...xs), Math.max(...xs), tickCount), y: niceAxis(Math.min(...ys), Math.max(...ys), tickCount) };
}

/** The plot area inside an image: margins from each edge, in pixels. */
export interface Margins {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** The plot area of a `width` x `height` image and the maps from data values to its pixels (y grows down). */
export function plotArea(axes: { x: Axis; y: Axis }, width: number, height: number, margins: Margins) {
  const plotWidth = width - margins.left - margins.right;
  const plotHeight = height - margins.top - margins.bottom;
  return {
    plotWidth,
    plotHeight,
    px: (x: number) => margins.left + ((x - axes.x.min) / (axes.x.max - axes.x.min)) * plotWidth,
    py: (y: number) => margins.top + (1 - (y - axes.y.min) / (axes.y.max - axes.y.min)) * plotHeight,
  };
}

/** An axis that covers [low, high] with about `count` ticks at round values (1, 2 or 5 times a power of ten). */
export function niceAxis(low: number, high: number, count: number): Axis {
  if (!Number.isFinite(low) || !Number.isFinite(high)) return { min: 0, max: 1, ticks: [0, 1] };
  if (low === high) {
    const pad = low === 0 ? 1 : Math.abs(low) * 0.1;
    [low, high] = [low - pad, high + pad];
  }
  const rough = (high - low) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
  const min = Math.floor(low / step) * step;
  const max = Math.ceil(high / step) * step;
  const ticks: number[] = [];
  // Rounded so that 0.1 + 0.2 shows as 0.3 on the axis.
  for (let i = 0; min + i * step <= max + step / 2; i++) ticks.push(Number((min + i * step).toPrecision(12)));
  return { min, max, ticks };
}

/** A tick label: short, without float noise (0.0003, 6.5, 1,200). */
export function formatValue(value: number): string {
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude < 1e-3 || magnitude >= 1e6) return value.toExponential(1).replace('.0e', 'e');
  return String(Number(value.toPrecision(4)));
}

/** Counts such as tokens: 0, 500K, 1.2M, 3B. */
export function formatCompact(value: number): string {
  const magnitude = Math.abs(value);
  const [scale, suffix] = magnitude >= 1e9 ? [1e9, 'B'] : magnitude >= 1e6 ? [1e6, 'M'] : magnitude >= 1e3 ? [1e3, 'K'] : [1, ''];
  return `${Number((value / scale).toPrecision(3))}${suffix}`;
}

/**
 * At most about 2 * `buckets` points that keep the curve's envelope: the lowest and highest point of each
 * of `buckets` equal runs, in order. A million-step run stays a page of a few hundred KB, and no spike
 * disappears (an average would hide one).
 */
export function decimate(points: Array<[number, number]>, buckets: number): Array<[number, number]> {
  if (points.length <= 2 * buckets) return points;
  const out: Array<[number, number]> = [];
  const size = points.length / buckets;
  for (let b = 0; b < buckets; b++) {
    const run = points.slice(Math.floor(b * size), Math.floor((b + 1) * size));
    if (run.length === 0) continue;
    let [low, high] = [run[0], run[0]];
    for (const point of run) {
      if (point[1] < low[1]) low = point;
      if (point[1] > high[1]) high = point;
    }
    out.push(...(low[0] <= high[0] ? [low, high] : [high, low]).filter((p, i, pair) => i === 0 || p !== pair[0]));
  }
  return out;
}
