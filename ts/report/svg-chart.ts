// One report chart as inline SVG markup: drawn when the page is written, so the page shows its curves
// with scripts off and needs nothing from the network. The page's script only adds a hover readout,
// reading the plot area and the points from the data-* attributes written here.
import { chartAxes, decimate, formatCompact, plotArea, type Chart } from './chart.js';

const WIDTH = 720;
const HEIGHT = 300;
const PLOT = { left: 70, right: 20, top: 40, bottom: 46 };
const MAX_BUCKETS = 1500;

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function svgChart(chart: Chart): string {
  const axes = chartAxes(chart);
  const { plotWidth, plotHeight, px, py } = plotArea(axes, WIDTH, HEIGHT, PLOT);
  const round = (v: number) => Math.round(v * 10) / 10;
  const parts: string[] = [];

  parts.push(`<text class="title" x="${PLOT.left}" y="20">${escapeXml(chart.title)}</text>`);
  for (const tick of axes.y.ticks) {
    const y = round(py(tick));
    parts.push(`<line class="grid" x1="${PLOT.left}" x2="${WIDTH - PLOT.right}" y1="${y}" y2="${y}"/>`);
    parts.push(`<text class="tick" x="${PLOT.left - 8}" y="${y + 4}" text-anchor="end">${escapeXml(chart.formatY(tick))}</text>`);
  }
  for (const tick of axes.x.ticks) {
    const x = round(px(tick));
    parts.push(`<line class="grid" x1="${x}" x2="${x}" y1="${PLOT.top}" y2="${HEIGHT - PLOT.bottom}"/>`);
    parts.push(`<text class="tick" x="${x}" y="${HEIGHT - PLOT.bottom + 18}" text-anchor="middle">${escapeXml(formatCompact(tick))}</text>`);
  }
  parts.push(`<text class="axis-label" x="${PLOT.left + plotWidth / 2}" y="${HEIGHT - 6}" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`);
  parts.push(`<rect class="frame" x="${PLOT.left}" y="${PLOT.top}" width="${plotWidth}" height="${plotHeight}"/>`);

  let legendX = WIDTH - PLOT.right;
  for (const series of [...chart.series].reverse()) {
    const label = escapeXml(series.label);
    legendX -= 14 + 7.5 * series.label.length;
    parts.push(`<rect x="${round(legendX)}" y="12" width="10" height="10" fill="${series.color}"/>`);
    parts.push(`<text class="legend" x="${round(legendX + 14)}" y="21">${label}</text>`);
    legendX -= 12;
  }

  for (const series of chart.series) {
    const kept = decimate(series.points, MAX_BUCKETS);
    const points = kept.map(([x, y]) => `${round(px(x))},${round(py(y))}`);
    const data = `data-label="${escapeXml(series.label)}" data-points="${escapeXml(JSON.stringify(kept))}"`;
    parts.push(`<polyline class="series" fill="none" stroke="${series.color}" stroke-width="1.8" points="${points.join(' ')}" ${data}/>`);
    if (series.dots)
      for (const point of points) {
        const [x, y] = point.split(',');
        parts.push(`<circle cx="${x}" cy="${y}" r="3" fill="${series.color}"/>`);
      }
  }

  const plot = [PLOT.left, PLOT.top, plotWidth, plotHeight, axes.x.min, axes.x.max, axes.y.min, axes.y.max].join(',');
  return `<svg class="chart" id="chart-${chart.id}" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escapeXml(chart.title)}" data-plot="${plot}" xmlns="http://www.w3.org/2000/svg">\n${parts.join('\n')}\n</svg>`;
}
