// Chart.js (Debian's libjs-chart.js, loaded by the page as a classic script) behind two helpers.
// Times are plotted as numbers (ms since 1970) on a linear axis with our own tick labels, so no
// date adapter is needed.

const palette = ['#0b6e99', '#c2410c', '#15803d', '#7c3aed', '#b91c1c', '#0f766e'];
// Labels follow the range the axis shows: dates over days, seconds under ten minutes.
function tickTime(value) {
  const span = this.max - this.min;
  const date = new Date(value);
  return span > 2 * 86400000 ? date.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })
    : date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: span < 600000 ? '2-digit' : undefined });
}

/** A line chart of series [{label, points: [{x: ms, y}]}], with optional horizontal lines. */
export function lineChart(canvas, series, { span = 3600000, thresholds = [], yLabel = '' } = {}) {
  const datasets = series.map((entry, index) => ({
    label: entry.label, data: entry.points, borderColor: palette[index % palette.length], backgroundColor: palette[index % palette.length],
    borderWidth: 2, pointRadius: entry.points.length > 120 ? 0 : 2, tension: 0, fill: false,
  }));
  for (const line of thresholds) {
    const from = Date.now() - span;
    const to = Date.now();
    datasets.push({ label: line.label, data: [{ x: from, y: line.value }, { x: to, y: line.value }], borderColor: '#b91c1c', borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0 });
  }
  // The axis always shows the whole requested span (the last hour, day, …), data or not.
  const chart = new window.Chart(canvas, {
    type: 'line',
    data: { datasets },
    options: {
      animation: false, parsing: false, normalized: true, maintainAspectRatio: false,
      interaction: { mode: 'nearest', intersect: false },
      scales: {
        x: { type: 'linear', min: Date.now() - span, max: Date.now(), ticks: { callback: tickTime, maxTicksLimit: 8 } },
        y: { title: { display: Boolean(yLabel), text: yLabel } },
      },
      plugins: { legend: { display: datasets.length > 1 }, tooltip: { callbacks: { title: (items) => new Date(items[0].parsed.x).toLocaleString() } } },
    },
  });
  chart.$span = span;
  return chart;
}

/** Replaces a chart's series in place (live updates without re-creating it). */
export function updateSeries(chart, series) {
  series.forEach((entry, index) => {
    if (chart.data.datasets[index]) {
      chart.data.datasets[index].data = entry.points;
      chart.data.datasets[index].pointRadius = entry.points.length > 120 ? 0 : 2;
    }
  });
  if (chart.$span) {
    chart.options.scales.x.min = Date.now() - chart.$span;
    chart.options.scales.x.max = Date.now();
  }
  chart.update('none');
}

/** A short text equivalent of a chart for screen readers. */
export function describe(series, unit = '') {
  return series.map((entry) => {
    const values = entry.points.map((point) => point.y).filter(Number.isFinite);
    if (!values.length) return `${entry.label}: no data`;
    return `${entry.label}: ${values.length} values, from ${Math.min(...values)} to ${Math.max(...values)}${unit}, latest ${values[values.length - 1]}${unit}`;
  }).join('. ');
}
