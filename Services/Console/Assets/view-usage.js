// Usage and billing: each resource against what the plan includes (bars with the 80 % warning
// and 100 % limit marks), the sub-tenants' shares, invoices and their allocation.
import { api, currentTenant } from './api.js';
import { dialog, download, h, header, number, problemBox, replace, time, toast } from './dom.js';

const resourceNames = {
  'active-devices': 'Active devices', 'data-ingested': 'Data ingested', 'api-calls': 'API calls', 'timeseries-storage': 'Time-series storage',
  'object-storage': 'Object storage', 'video-processing': 'Video processing', 'ml-inference': 'ML inference', 'data-egress': 'Data egress',
};

function money(minor, currency) {
  return (minor / 100).toLocaleString(undefined, { style: 'currency', currency: (currency || 'usd').toUpperCase() });
}

/** One bar: the used share of the plan, capped at 120 % for drawing, with marks at 80 and 100. */
export function usageBar(resource) {
  const percent = resource.percentOfPlan;
  const state = percent === null || percent === undefined ? 'unlimited' : percent >= 100 ? 'over' : percent >= 80 ? 'warning' : 'ok';
  const fill = h('span', { class: `bar-fill ${state}` });
  const width = percent === null || percent === undefined ? 0 : Math.min(percent, 120) / 1.2;
  fill.style.width = `${width}%`;
  const mark80 = h('span', { class: 'bar-mark', title: '80 %: warning' });
  mark80.style.left = `${80 / 1.2}%`;
  const mark100 = h('span', { class: 'bar-mark limit', title: '100 %: the plan\'s quantity' });
  mark100.style.left = `${100 / 1.2}%`;
  // An unlimited resource has nothing to be measured against: no marks, an empty bar.
  const marks = state === 'unlimited' ? [] : [mark80, mark100];
  return h('div', { class: 'usage-row', dataset: { resource: resource.resource, state } },
    h('span', { class: 'usage-name' }, resourceNames[resource.resource] || resource.resource),
    h('span', { class: 'bar', role: 'meter', 'aria-valuemin': '0', 'aria-valuemax': String(resource.included ?? resource.quantity), 'aria-valuenow': String(resource.quantity),
      'aria-label': `${resourceNames[resource.resource] || resource.resource}: ${percent === null || percent === undefined ? 'unlimited' : `${number(percent, 1)} % of the plan`}` }, fill, marks),
    h('span', { class: 'usage-figure' }, `${number(resource.quantity)} ${resource.unit}`, resource.included !== null && resource.included !== undefined ? ` of ${number(resource.included)} (${number(percent, 1)} %)` : ' (unlimited)'));
}

export async function usageView(main) {
  const tenantId = currentTenant();
  const [usage, invoices] = await Promise.all([
    api('/api/v1/billing/usage', { query: { tenantId } }),
    api('/api/v1/billing/invoices', { query: { tenantId } }).catch((error) => ({ error })),
  ]);
  const csv = h('button', { type: 'button', class: 'secondary', id: 'usage-csv' }, 'Download CSV');
  csv.addEventListener('click', async () => {
    try {
      const response = await api('/api/v1/billing/usage', { query: { tenantId, format: 'csv' }, raw: true, headers: { Accept: 'text/csv' } });
      download(await response.blob(), 'usage.csv');
    } catch (error) { toast(error.detail || error.message, 'error'); }
  });
  const invoiceList = invoices.error ? problemBox(invoices.error) : h('table', { class: 'data', id: 'invoices-table' },
    h('thead', {}, h('tr', {}, ['Invoice', 'Period', 'Status', 'Total', ''].map((name) => h('th', { scope: 'col' }, name)))),
    h('tbody', {}, (invoices.items || []).length ? invoices.items.map((invoice) => h('tr', {},
      h('td', {}, invoice.number), h('td', {}, time(invoice.periodStart), ' – ', time(invoice.periodEnd)), h('td', {}, invoice.status),
      h('td', { class: 'num' }, money(invoice.totalMinor, invoice.currency)),
      h('td', {}, h('button', { type: 'button', class: 'small secondary', onclick: () => showAllocation(invoice) }, 'Allocation')))) : h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'No invoices yet.'))));
  replace(main, header('Usage & billing', csv),
    h('section', { class: 'card', 'aria-labelledby': 'usage-title' },
      h('h2', { id: 'usage-title' }, `This period${usage.plan ? ` · plan ${usage.plan}` : ''}`),
      h('p', { class: 'muted' }, time(usage.from), ' – ', time(usage.to), '. Marks at 80 % (a warning) and 100 % (what the plan includes).'),
      h('div', { class: 'usage', id: 'usage-bars' }, usage.resources.map(usageBar))),
    usage.subTenants?.length ? h('section', { class: 'card' }, h('h2', {}, 'Sub-tenants'),
      h('table', { class: 'data', id: 'subtenant-usage' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Tenant'), usage.resources.map((r) => h('th', { scope: 'col' }, resourceNames[r.resource] || r.resource)))),
        h('tbody', {}, usage.subTenants.map((sub) => h('tr', {}, h('th', { scope: 'row' }, sub.name),
          usage.resources.map((r) => h('td', { class: 'num' }, number((sub.resources.find((x) => x.resource === r.resource) || {}).quantity ?? 0)))))))) : null,
    h('section', { class: 'card' }, h('h2', {}, 'Invoices'), invoiceList));
  return null;
}

async function showAllocation(invoice) {
  try {
    const view = await api(`/api/v1/billing/invoices/${invoice.id}/allocation`);
    dialog(`Allocation of ${invoice.number} (${view.allocation.strategy}${view.allocation.billed ? '' : ', showback'})`,
      h('table', { class: 'data' }, h('thead', {}, h('tr', {}, ['Tenant', 'Subtotal', 'Tax', 'Total'].map((name) => h('th', { scope: 'col' }, name)))),
        h('tbody', {}, view.allocation.shares.map((share) => h('tr', {}, h('th', { scope: 'row' }, share.name),
          h('td', { class: 'num' }, money(share.subtotalMinor, view.currency)), h('td', { class: 'num' }, money(share.taxMinor, view.currency)), h('td', { class: 'num' }, money(share.totalMinor, view.currency)))))));
  } catch (error) { toast(error.detail || error.message, 'error'); }
}
