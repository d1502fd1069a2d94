// Alerts: firing and past alerts (acknowledge, resolve), and the rules that raise them, with an
// editor that previews the last day's values against the rule's level before it is saved.
import { api, currentTenant, hasRole } from './api.js';
import { lineChart } from './charts.js';
import { dialog, field, h, header, number, problemBox, replace, select, time, toast } from './dom.js';
import { base, navigate, params, setParams } from './router.js';
import { lookups } from './view-devices.js';

const severities = ['critical', 'major', 'warning', 'info'];

export async function alertsView(main) {
  const query = params();
  const filters = { state: query.get('state') || 'firing', severity: query.get('severity') || '' };
  const operator = hasRole('operator', 'tenant-admin');
  const tabs = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Which alerts' },
    [['firing', 'Firing'], ['resolved', 'History']].map(([value, label]) => h('button', { type: 'button', dataset: { state: value }, 'aria-pressed': String(filters.state === value) }, label)));
  const severitySelect = select({ id: 'alert-severity' }, [['', 'Any severity'], ...severities.map((name) => [name, name])], filters.severity);
  const body = h('tbody');
  const table = h('table', { class: 'data', id: 'alerts-table' }, h('caption', { class: 'visually-hidden' }, 'Alerts'),
    h('thead', {}, h('tr', {}, ['Severity', 'Summary', 'Device', 'Opened', 'Triggers', 'State', ''].map((name) => h('th', { scope: 'col' }, name)))), body);
  replace(main, header('Alerts', h('a', { href: `${base}/alerts/rules`, class: 'button secondary' }, 'Rules')),
    h('div', { class: 'filters' }, tabs, h('label', { class: 'inline' }, 'Severity ', severitySelect)), table);

  function actions(alert) {
    const history = h('button', { type: 'button', class: 'small secondary', dataset: { history: alert.id } }, 'History');
    if (!operator || alert.state !== 'firing') return h('span', { class: 'row-actions' }, history);
    return h('span', { class: 'row-actions' }, history,
      alert.acknowledged ? null : h('button', { type: 'button', class: 'small', dataset: { action: 'acknowledge', id: alert.id } }, 'Acknowledge'),
      h('button', { type: 'button', class: 'small secondary', dataset: { action: 'resolve', id: alert.id } }, 'Resolve'));
  }
  function row(alert) {
    return h('tr', { dataset: { alertId: alert.id } },
      h('td', {}, h('span', { class: `severity ${alert.severity}` }, alert.severity)),
      h('td', {}, alert.summary, alert.flapping ? h('span', { class: 'badge warning' }, 'flapping') : null),
      h('td', {}, alert.deviceId ? h('a', { href: `${base}/devices/${alert.deviceId}` }, 'device') : alert.source),
      h('td', {}, time(alert.openedAt)),
      h('td', { class: 'num' }, String(alert.triggerCount)),
      h('td', { title: alert.acknowledgedBy ? `acknowledged by ${alert.acknowledgedBy}` : '' },
        alert.state === 'resolved' ? ['resolved ', time(alert.resolvedAt)] : alert.acknowledged ? ['acknowledged ', time(alert.acknowledgedAt)] : 'open'),
      h('td', {}, actions(alert)));
  }
  async function load() {
    setParams(filters);
    const page = await api('/api/v1/alerts/instances', { query: { state: filters.state, severity: filters.severity, tenantId: currentTenant(), limit: 200 } });
    const items = page.items || [];
    replace(body, items.length ? items.map(row) : h('tr', {}, h('td', { colspan: 7, class: 'empty' }, filters.state === 'firing' ? 'Nothing is firing.' : 'No alerts in the history.')));
  }
  tabs.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-state]');
    if (!button) return;
    filters.state = button.dataset.state;
    for (const other of tabs.querySelectorAll('button')) other.setAttribute('aria-pressed', String(other === button));
    load().catch((error) => replace(body, h('tr', {}, h('td', { colspan: 7 }, problemBox(error)))));
  });
  severitySelect.addEventListener('change', () => { filters.severity = severitySelect.value; load().catch((error) => toast(error.detail, 'error')); });
  body.addEventListener('click', async (event) => {
    const historyButton = event.target.closest('button[data-history]');
    if (historyButton) {
      try {
        const answer = await api(`/api/v1/alerts/instances/${historyButton.dataset.history}`);
        dialog(`Alert: ${answer.alert.summary}`,
          h('dl', { class: 'facts' }, h('dt', {}, 'Key'), h('dd', {}, answer.alert.dedupKey), h('dt', {}, 'Values'),
            h('dd', {}, Object.entries(answer.alert.values || {}).map(([name, value]) => `${name} ${number(value, 4)}`).join(', ') || '—')),
          h('table', { class: 'data', id: 'alert-history' }, h('thead', {}, h('tr', {}, ['When', 'What', 'Who', 'Detail'].map((name) => h('th', { scope: 'col' }, name)))),
            h('tbody', {}, (answer.history || []).map((entry) => h('tr', {}, h('td', {}, time(entry.at)), h('td', {}, entry.kind), h('td', {}, entry.actor || '—'), h('td', {}, entry.detail || ''))))));
      } catch (error) { toast(error.detail || error.message, 'error'); }
      return;
    }
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    button.disabled = true;
    try {
      const alert = await api(`/api/v1/alerts/instances/${button.dataset.id}/${button.dataset.action}`, { method: 'POST', json: {} });
      button.closest('tr').replaceWith(row(alert));
      toast(button.dataset.action === 'acknowledge' ? 'Alert acknowledged' : 'Alert resolved');
    } catch (error) {
      button.disabled = false;
      toast(error.detail || error.message, 'error');
    }
  });
  await load();
  const timer = setInterval(() => load().catch(() => {}), 10000);
  return () => clearInterval(timer);
}

export async function rulesView(main) {
  const page = await api('/api/v1/alerts/rules', { query: { tenantId: currentTenant() } });
  const rules = page.items || page;
  replace(main, header('Alert rules', h('a', { href: `${base}/alerts`, class: 'button secondary' }, 'Alerts'),
    hasRole('tenant-admin', 'operator') ? h('a', { href: `${base}/alerts/rules/new`, class: 'button' }, 'New rule') : null),
  h('table', { class: 'data', id: 'rules-table' }, h('thead', {}, h('tr', {}, ['Name', 'Condition', 'Severity', 'Enabled'].map((name) => h('th', { scope: 'col' }, name)))),
    h('tbody', {}, rules.length ? rules.map((rule) => h('tr', {},
      h('td', {}, h('a', { href: `${base}/alerts/rules/${rule.id}` }, rule.name)),
      h('td', {}, describeCondition(rule.condition)),
      h('td', {}, h('span', { class: `severity ${rule.severity}` }, rule.severity)),
      h('td', {}, rule.enabled ? 'yes' : 'no'))) : h('tr', {}, h('td', { colspan: 4, class: 'empty' }, 'No rules yet.')))));
  return null;
}

function describeCondition(condition) {
  switch (condition.type) {
    case 'threshold': return `${condition.metric} ${condition.comparison} ${condition.level}`;
    case 'rate': return `${condition.metric} changes ${condition.comparison} ${condition.level} ${condition.unit}`;
    case 'noData': return `no ${condition.metric || 'data'} for ${condition.seconds} s`;
    case 'window': return `${condition.aggregate} of ${condition.metric} over ${condition.minutes} min ${condition.comparison} ${condition.level}`;
    case 'anomaly': return `${condition.metric} anomaly score above ${condition.level}`;
    default: return `${condition.type} of ${(condition.conditions || []).length} conditions`;
  }
}

/** Fields each condition type uses (AlertCondition in Alerts's OpenAPI document). */
const conditionFields = {
  threshold: ['metric', 'comparison', 'level', 'hysteresis'],
  rate: ['metric', 'comparison', 'level', 'unit'],
  noData: ['metric', 'seconds'],
  window: ['metric', 'aggregate', 'minutes', 'comparison', 'level'],
  anomaly: ['metric', 'level'],
};

export async function ruleEditorView(main, { id }) {
  const existing = id ? await api(`/api/v1/alerts/rules/${encodeURIComponent(id)}`) : null;
  const { types, assets } = await lookups();
  const rule = existing || { name: '', severity: 'warning', enabled: true, forSeconds: 0, scope: { kind: 'deviceType' }, condition: { type: 'threshold', comparison: 'above' } };
  const c = rule.condition;
  const inputs = {
    name: h('input', { id: 'rule-name', required: true, maxlength: 200, value: rule.name }),
    severity: select({ id: 'rule-severity' }, severities.map((name) => [name, name]), rule.severity),
    enabled: h('input', { type: 'checkbox', id: 'rule-enabled', checked: rule.enabled }),
    forSeconds: h('input', { type: 'number', id: 'rule-for', min: 0, max: 2592000, value: rule.forSeconds ?? 0 }),
    scopeKind: select({ id: 'rule-scope-kind' }, [['deviceType', 'Devices of a type'], ['device', 'One device'], ['asset', 'Devices under an asset'], ['tag', 'Devices with a tag']], rule.scope.kind),
    deviceTypeId: select({ id: 'rule-device-type' }, types.map((type) => [type.id, type.name]), rule.scope.deviceTypeId),
    deviceId: h('input', { id: 'rule-device', value: rule.scope.deviceId || '', placeholder: 'device id', pattern: '[0-9a-fA-F\\-]{36}' }),
    assetId: select({ id: 'rule-asset' }, assets.map((asset) => [asset.id, `${asset.name} (${asset.kind})`]), rule.scope.assetId),
    tag: h('input', { id: 'rule-tag', value: rule.scope.tag || '', maxlength: 100 }),
    type: select({ id: 'rule-type' }, Object.keys(conditionFields).map((name) => [name, name]), c.type),
    metric: h('input', { id: 'rule-metric', value: c.metric || '', maxlength: 200 }),
    comparison: select({ id: 'rule-comparison' }, [['above', 'above'], ['below', 'below']], c.comparison || 'above'),
    level: h('input', { type: 'number', step: 'any', id: 'rule-level', value: c.level ?? '' }),
    hysteresis: h('input', { type: 'number', step: 'any', min: 0, id: 'rule-hysteresis', value: c.hysteresis ?? '' }),
    unit: select({ id: 'rule-unit' }, [['perSecond', 'per second'], ['perMinute', 'per minute']], c.unit || 'perMinute'),
    seconds: h('input', { type: 'number', min: 1, max: 2592000, id: 'rule-seconds', value: c.seconds ?? 300 }),
    aggregate: select({ id: 'rule-aggregate' }, ['avg', 'min', 'max', 'sum', 'count'].map((name) => [name, name]), c.aggregate || 'avg'),
    minutes: h('input', { type: 'number', min: 1, max: 1440, id: 'rule-minutes', value: c.minutes ?? 5 }),
  };
  const scopeFields = { deviceType: field('Device type', inputs.deviceTypeId), device: field('Device id', inputs.deviceId), asset: field('Asset', inputs.assetId), tag: field('Tag', inputs.tag) };
  const condition = Object.fromEntries(['metric', 'comparison', 'level', 'hysteresis', 'unit', 'seconds', 'aggregate', 'minutes'].map((name) => [name, field(name[0].toUpperCase() + name.slice(1), inputs[name])]));
  const message = h('div', { role: 'alert', class: 'form-error' });
  const canvas = h('canvas', { id: 'preview-chart', role: 'img', 'aria-label': 'Preview' });
  const previewNote = h('p', { class: 'muted', id: 'preview-note' });
  const form = h('form', { class: 'card form-grid', id: 'rule-form' },
    field('Name', inputs.name), field('Severity', inputs.severity), field('Holds for (seconds)', inputs.forSeconds), h('label', { class: 'check' }, inputs.enabled, ' Enabled'),
    h('fieldset', {}, h('legend', {}, 'Which devices'), field('Scope', inputs.scopeKind), Object.values(scopeFields)),
    h('fieldset', {}, h('legend', {}, 'Condition'), field('Type', inputs.type), Object.values(condition)),
    message,
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', id: 'rule-preview' }, 'Preview last day'), h('button', { type: 'submit' }, existing ? 'Save rule' : 'Create rule')));
  replace(main, header(existing ? `Rule: ${existing.name}` : 'New alert rule', h('a', { href: `${base}/alerts/rules`, class: 'button secondary' }, 'All rules')),
    h('div', { class: 'editor-layout' }, form, h('section', { class: 'card preview' }, h('h2', {}, 'Preview'), h('div', { class: 'chart-box' }, canvas), previewNote)));

  function sync() {
    for (const [kind, element] of Object.entries(scopeFields)) element.hidden = kind !== inputs.scopeKind.value;
    const used = conditionFields[inputs.type.value];
    for (const [name, element] of Object.entries(condition)) element.hidden = !used.includes(name);
  }
  form.addEventListener('change', sync);
  sync();

  function body() {
    const kind = inputs.scopeKind.value;
    const scope = { kind, [`${kind}Id`]: undefined };
    if (kind === 'tag') scope.tag = inputs.tag.value.trim(); else scope[`${kind}Id`] = inputs[`${kind}Id`].value.trim();
    const type = inputs.type.value;
    const conditionBody = { type };
    for (const name of conditionFields[type]) {
      const value = inputs[name].value;
      if (value === '') continue;
      conditionBody[name] = ['level', 'hysteresis'].includes(name) ? Number(value) : ['seconds', 'minutes'].includes(name) ? Math.trunc(Number(value)) : value;
    }
    return { name: inputs.name.value.trim(), severity: inputs.severity.value, enabled: inputs.enabled.checked, forSeconds: Math.trunc(Number(inputs.forSeconds.value) || 0), scope, condition: conditionBody };
  }

  let chart = null;
  async function preview() {
    const rule = body();
    if (!rule.condition.metric) { previewNote.textContent = 'Name a metric to preview.'; return; }
    const fn = rule.condition.type === 'window' ? rule.condition.aggregate : rule.condition.comparison === 'below' ? 'min' : 'max';
    const bucket = rule.condition.type === 'window' ? `${rule.condition.minutes}m` : '15m';
    const answer = await api('/api/v1/telemetry/aggregate', { query: {
      metric: rule.condition.metric, fn, bucket, from: new Date(Date.now() - 86400000).toISOString(), devices: rule.scope.kind === 'device' ? rule.scope.deviceId : undefined,
    } });
    const points = (answer.buckets || []).map((b) => ({ x: Date.parse(b.time), y: b.value }));
    const level = rule.condition.level;
    chart?.destroy();
    chart = lineChart(canvas, [{ label: `${fn} per ${bucket}`, points }], { span: 86400000, thresholds: Number.isFinite(level) && rule.condition.type !== 'anomaly' ? [{ label: `level ${level}`, value: level }] : [] });
    const crossing = points.filter((p) => Number.isFinite(level) && (rule.condition.comparison === 'below' ? p.y < level : p.y > level)).length;
    previewNote.textContent = `${points.length} bucket${points.length === 1 ? '' : 's'} with data over the last day${rule.scope.kind === 'device' ? '' : ' (every device of the tenant)'}; ${crossing} beyond the level ${number(level)}.`;
  }
  document.getElementById('rule-preview').addEventListener('click', () => preview().catch((error) => { previewNote.textContent = error.detail || error.message; }));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    message.textContent = '';
    try {
      const saved = await api(existing ? `/api/v1/alerts/rules/${existing.id}` : '/api/v1/alerts/rules', { method: existing ? 'PUT' : 'POST', json: body()});
      toast(`Rule ${saved.name} saved`);
      navigate(`/alerts/rules/${saved.id}`, { replace: true });
    } catch (error) {
      message.replaceChildren(problemBox(error), h('ul', {}, (error.errors || []).map((item) => h('li', {}, `${item.pointer}: ${item.detail}`))));
    }
  });
  return () => chart?.destroy();
}
