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
  // With no points the axis would be empty: it shows the requested span instead.
  const hasPoints = series.some((entry) => entry.points.length);
  const datasets = series.map((entry, index) => ({
    label: entry.label, data: entry.points, borderColor: palette[index % palette.length], backgroundColor: palette[index % palette.length],
    borderWidth: 2, pointRadius: entry.points.length > 120 ? 0 : 2, tension: 0, fill: false,
  }));
  for (const line of thresholds) {
    const xs = series.flatMap((entry) => entry.points.map((point) => point.x));
    const from = xs.length ? Math.min(...xs) : Date.now() - span;
    const to = xs.length ? Math.max(...xs) : Date.now();
    datasets.push({ label: line.label, data: [{ x: from, y: line.value }, { x: to, y: line.value }], borderColor: '#b91c1c', borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0 });
  }
  return new window.Chart(canvas, {
    type: 'line',
    data: { datasets },
    options: {
      animation: false, parsing: false, normalized: true, maintainAspectRatio: false,
      interaction: { mode: 'nearest', intersect: false },
      scales: {
        x: { type: 'linear', min: hasPoints ? undefined : Date.now() - span, max: hasPoints ? undefined : Date.now(), ticks: { callback: tickTime, maxTicksLimit: 8 } },
        y: { title: { display: Boolean(yLabel), text: yLabel } },
      },
      plugins: { legend: { display: datasets.length > 1 }, tooltip: { callbacks: { title: (items) => new Date(items[0].parsed.x).toLocaleString() } } },
    },
  });
}

/** Replaces a chart's series in place (live updates without re-creating it). */
export function updateSeries(chart, series) {
  series.forEach((entry, index) => {
    if (chart.data.datasets[index]) {
      chart.data.datasets[index].data = entry.points;
      chart.data.datasets[index].pointRadius = entry.points.length > 120 ? 0 : 2;
    }
  });
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
