// One device: its state, the latest value of every metric (every 5 s), a live chart of the
// chosen metric and its aggregates over 1 h to 30 d (QueryAPI's buckets and hourly rollups),
// CSV export, and its credentials (issued secrets are shown once).
import { api, hasRole } from './api.js';
import { lineChart, updateSeries, describe } from './charts.js';
import { ago, dialog, download, h, header, number, replace, select, time, toast } from './dom.js';
import { base, params, setParams } from './router.js';

const ranges = {
  live: { label: 'Live (15 min)', span: 15 * 60000 },
  '1h': { label: '1 h', span: 3600000, bucket: '1m' },
  '24h': { label: '24 h', span: 86400000, bucket: '15m' },
  '7d': { label: '7 d', span: 7 * 86400000, bucket: '1h' },
  '30d': { label: '30 d', span: 30 * 86400000, bucket: '6h' },
};
const refreshEvery = 5000;

export async function deviceView(main, { id }) {
  const device = await api(`/api/v1/devices/${encodeURIComponent(id)}`);
  document.title = `${device.name} · Sensormine`;
  const query = params();
  let range = ranges[query.get('range')] ? query.get('range') : 'live';
  let metric = query.get('metric') || '';

  const state = h('dl', { class: 'facts' });
  const latestBody = h('tbody');
  const latestTable = h('table', { class: 'data', id: 'latest-values' }, h('caption', {}, 'Latest values'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Metric'), h('th', { scope: 'col' }, 'Value'), h('th', { scope: 'col' }, 'At'))), latestBody);
  const metricSelect = select({ id: 'metric-select' }, [], metric);
  const rangeButtons = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Time range' },
    Object.entries(ranges).map(([key, value]) => h('button', { type: 'button', dataset: { range: key }, 'aria-pressed': String(key === range) }, value.label)));
  const canvas = h('canvas', { id: 'metric-chart', role: 'img', 'aria-label': 'Chart' });
  const chartNote = h('p', { class: 'muted', id: 'chart-note' });
  const csvButton = h('button', { type: 'button', class: 'secondary', id: 'download-csv' }, 'Download CSV');
  const credentials = h('section', { class: 'card', 'aria-labelledby': 'credentials-title' });

  replace(main,
    header(device.name, h('a', { href: `${base}/devices`, class: 'button secondary' }, 'All devices')),
    h('div', { class: 'grid-2' },
      h('section', { class: 'card', 'aria-labelledby': 'state-title' }, h('h2', { id: 'state-title' }, 'State'), state),
      h('section', { class: 'card' }, latestTable)),
    h('section', { class: 'card', 'aria-labelledby': 'chart-title' },
      h('div', { class: 'chart-bar' }, h('h2', { id: 'chart-title' }, 'Telemetry'), h('label', { class: 'inline' }, 'Metric ', metricSelect), rangeButtons, csvButton),
      h('div', { class: 'chart-box' }, canvas), chartNote),
    credentials);

  function drawState(current) {
    replace(state,
      h('dt', {}, 'Connectivity'), h('dd', {}, h('span', { class: `badge ${current.connectivity}`, id: 'device-connectivity' }, current.connectivity)),
      h('dt', {}, 'Last seen'), h('dd', {}, current.lastSeenAt ? [time(current.lastSeenAt), ` (${ago(current.lastSeenAt)})`] : 'never'),
      h('dt', {}, 'Status'), h('dd', {}, current.status),
      h('dt', {}, 'Tags'), h('dd', {}, (current.tags || []).join(', ') || '—'),
      h('dt', {}, 'Id'), h('dd', {}, h('code', {}, current.id)));
  }
  drawState(device);

  let chart = null;
  let timer = null;
  let stopped = false;

  async function refreshLatest() {
    const answer = await api('/api/v1/telemetry/latest', { query: { devices: device.id } });
    const metrics = answer.devices?.[0]?.metrics || {};
    const names = Object.keys(metrics).sort();
    replace(latestBody, names.length ? names.map((name) => h('tr', {}, h('th', { scope: 'row' }, name), h('td', { class: 'num' }, number(metrics[name].value, 4)), h('td', {}, time(metrics[name].time))))
      : h('tr', {}, h('td', { colspan: 3, class: 'empty' }, 'No telemetry yet.')));
    const known = [...metricSelect.options].map((option) => option.value);
    if (names.join() !== known.join()) {
      replace(metricSelect, names.map((name) => h('option', { value: name, selected: name === metric }, name)));
      if (!metric && names.length) { metric = names[0]; metricSelect.value = metric; await drawChart(); }
    }
  }

  async function series() {
    const spec = ranges[range];
    const from = new Date(Date.now() - spec.span).toISOString();
    if (range === 'live') {
      const page = await api(`/api/v1/telemetry/devices/${device.id}/points`, { query: { metric, from, limit: 10000 } });
      return [{ label: metric, points: (page.points || []).map((point) => ({ x: Date.parse(point.time), y: point.value })) }];
    }
    const functions = ['avg', 'min', 'max'];
    const answers = await Promise.all(functions.map((fn) => api('/api/v1/telemetry/aggregate', { query: { metric, devices: device.id, from, bucket: spec.bucket, fn } })));
    const source = answers[0].source;
    chartNote.dataset.source = source || '';
    return answers.map((answer, index) => ({ label: `${functions[index]} per ${spec.bucket}`, points: (answer.buckets || []).map((bucket) => ({ x: Date.parse(bucket.time), y: bucket.value })) }));
  }

  async function drawChart() {
    if (!metric) { chartNote.textContent = 'No metric to chart yet.'; return; }
    const data = await series();
    if (stopped) return;
    if (chart && chart.data.datasets.length === data.length && chart.$range === range) updateSeries(chart, data);
    else {
      chart?.destroy();
      chart = lineChart(canvas, data, { span: ranges[range].span, yLabel: metric });
      chart.$range = range;
    }
    const text = describe(data);
    canvas.setAttribute('aria-label', `${metric}, ${ranges[range].label}: ${text}`);
    chartNote.textContent = `${ranges[range].label}${chartNote.dataset.source && range !== 'live' ? ` · from ${chartNote.dataset.source === 'raw' ? 'raw points' : 'hourly rollups'}` : ''} · ${text}`;
  }

  async function tick() {
    try {
      const current = await api(`/api/v1/devices/${device.id}`);
      drawState(current);
      await refreshLatest();
      if (range === 'live' || range === '1h') await drawChart();
    } catch (error) {
      chartNote.textContent = `Refresh failed: ${error.detail || error.message}`;
    }
    if (!stopped) timer = setTimeout(tick, refreshEvery);
  }

  metricSelect.addEventListener('change', () => { metric = metricSelect.value; setParams({ metric, range }); drawChart().catch(showError); });
  rangeButtons.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-range]');
    if (!button) return;
    range = button.dataset.range;
    for (const other of rangeButtons.querySelectorAll('button')) other.setAttribute('aria-pressed', String(other === button));
    setParams({ metric, range });
    drawChart().catch(showError);
  });
  csvButton.addEventListener('click', async () => {
    if (!metric) return;
    try {
      const from = new Date(Date.now() - ranges[range].span).toISOString();
      const response = await api(`/api/v1/telemetry/devices/${device.id}/points`, { query: { metric, from, limit: 10000, format: 'csv' }, raw: true, headers: { Accept: 'text/csv' } });
      download(await response.blob(), `${device.name}-${metric}-${range}.csv`);
    } catch (error) { showError(error); }
  });
  function showError(error) { toast(error.detail || error.message, 'error'); }

  drawCredentials(credentials, device);
  await refreshLatest().catch(showError);
  if (metric) await drawChart().catch(showError);
  timer = setTimeout(tick, refreshEvery);
  return () => { stopped = true; clearTimeout(timer); chart?.destroy(); };
}

/** API keys (rotate, issue) and the MQTT account (reset); each secret is shown once. */
async function drawCredentials(section, device) {
  const operator = hasRole('operator', 'tenant-admin');
  const list = h('ul', { class: 'plain', id: 'api-keys' });
  const actions = h('div', { class: 'actions' });
  replace(section, h('h2', { id: 'credentials-title' }, 'Credentials'), list, actions);
  async function refresh() {
    const answer = await api(`/api/v1/devices/${device.id}/api-keys`);
    const keys = (answer.items || answer).filter((key) => !key.revokedAt);
    replace(list, keys.length ? keys.map((key) => h('li', {},
      h('code', {}, `${key.prefix}…`), ` ${key.name || 'API key'}, issued `, time(key.createdAt), ' ',
      operator ? h('button', { type: 'button', class: 'secondary small', onclick: () => rotate(key) }, 'Rotate') : null)) : h('li', { class: 'muted' }, 'No API keys.'));
  }
  function showSecret(title, rows) {
    dialog(title, h('p', {}, 'Copy it now: it is shown only this once.'),
      h('dl', { class: 'facts secret' }, rows.map(([name, value]) => [h('dt', {}, name), h('dd', {}, h('code', { class: 'secret-value' }, value))])));
  }
  async function rotate(key) {
    try {
      const issued = await api(`/api/v1/devices/${device.id}/api-keys/${key.id}/rotate`, { method: 'POST', json: {} });
      showSecret('New API key', [['X-API-Key', issued.key]]);
      await refresh();
    } catch (error) { toast(error.detail || error.message, 'error'); }
  }
  if (operator) {
    actions.append(
      h('button', { type: 'button', class: 'secondary', id: 'issue-key', onclick: async () => {
        try { const issued = await api(`/api/v1/devices/${device.id}/api-keys`, { method: 'POST', json: { name: 'console' } }); showSecret('New API key', [['X-API-Key', issued.key]]); await refresh(); } catch (error) { toast(error.detail || error.message, 'error'); }
      } }, 'Issue API key'),
      h('button', { type: 'button', class: 'secondary', id: 'reset-mqtt', onclick: async () => {
        try {
          const account = await api(`/api/v1/devices/${device.id}/mqtt-credentials`, { method: 'PUT', json: {} });
          showSecret('MQTT account', [['Username', account.username], ['Password', account.password], ['Publish to', account.telemetryTopic]]);
        } catch (error) { toast(error.detail || error.message, 'error'); }
      } }, 'Reset MQTT password'));
  }
  await refresh().catch((error) => replace(list, h('li', { class: 'muted' }, error.detail || error.message)));
}
