// `report --png`: the loss chart (train and val loss against tokens seen) as a PNG, for a terminal
// user who wants one image to look at or paste. Same axes and colours as the page's loss chart.
import { chartAxes, decimate, formatCompact, plotArea, runCharts, type Chart } from './chart.js';
import { Raster, rgb, TEXT_HEIGHT, textWidth } from './raster.js';
import type { MetricsRow } from './run-record.js';

const WIDTH = 960;
const HEIGHT = 540;
const PLOT = { left: 96, right: 28, top: 60, bottom: 70 };
const SCALE = 2;
const INK = rgb('#1d2330');
const MUTED = rgb('#475467');
const GRID = rgb('#e6e8ec');
const FRAME = rgb('#b8bec9');

export function lossPng(rows: MetricsRow[]): Buffer | null {
  const chart = runCharts(rows).find((c) => c.id === 'loss')!;
  if (!chart.series.some((s) => s.points.length > 0)) return null;
  return drawChart(chart).png();
}

function drawChart(chart: Chart): Raster {
  const image = new Raster(WIDTH, HEIGHT);
  const axes = chartAxes(chart, 6);
  const { plotWidth, plotHeight, px, py } = plotArea(axes, WIDTH, HEIGHT, PLOT);
  const textMiddle = (y: number) => Math.round(y - (TEXT_HEIGHT * SCALE) / 2);

  for (const tick of axes.y.ticks) {
    image.line(PLOT.left, py(tick), PLOT.left + plotWidth, py(tick), GRID);
    image.text(PLOT.left - 10, textMiddle(py(tick)), chart.formatY(tick), MUTED, SCALE, 'right');
  }
  for (const tick of axes.x.ticks) {
    image.line(px(tick), PLOT.top, px(tick), PLOT.top + plotHeight, GRID);
    image.text(px(tick), PLOT.top + plotHeight + 12, formatCompact(tick), MUTED, SCALE, 'center');
  }
  const [left, top, right, bottom] = [PLOT.left, PLOT.top, PLOT.left + plotWidth, PLOT.top + plotHeight];
  for (const [x0, y0, x1, y1] of [
    [left, top, right, top],
    [right, top, right, bottom],
    [right, bottom, left, bottom],
    [left, bottom, left, top],
  ]) {
    image.line(x0, y0, x1, y1, FRAME);
  }
  image.text(PLOT.left + plotWidth / 2, HEIGHT - 28, chart.xLabel, MUTED, SCALE, 'center');
  image.text(PLOT.left, 22, 'loss', INK, 3);

  let legendX = WIDTH - PLOT.right;
  for (const series of [...chart.series].reverse()) {
    legendX -= textWidth(series.label, SCALE);
    image.text(legendX, 24, series.label, MUTED, SCALE);
    legendX -= 24;
    image.fillRect(legendX, 24, 14, 14, rgb(series.color));
    legendX -= 28;
  }

  for (const series of chart.series) {
    const color = rgb(series.color);
    const points = decimate(series.points, plotWidth).map(([x, y]) => [px(x), py(y)]);
    for (let i = 1; i < points.length; i++) image.line(points[i - 1][0], points[i - 1][1], points[i][0], points[i][1], color, 2);
    if (series.dots) for (const [x, y] of points) image.dot(x, y, 4, color);
  }
  return image;
}
