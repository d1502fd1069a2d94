// The device list: server-side pages (cursor by id) fetched as the user scrolls, and only the
// rows in view are in the DOM, so 100,000 devices cost what 30 do.
import { api, currentTenant } from './api.js';
import { ago, field, h, header, problemBox, replace, select } from './dom.js';
import { base, params, setParams } from './router.js';

const rowHeight = 44;
const overscan = 8;
const firstPage = 100;
const laterPage = 500;

/** Device types and assets by id, for names in rows and filter choices. */
export async function lookups() {
  const tenantId = currentTenant();
  const [types, assets] = await Promise.all([
    api('/api/v1/device-types', { query: { tenantId } }).catch(() => ({ items: [] })),
    api('/api/v1/assets', { query: { tenantId } }).catch(() => ({ items: [] })),
  ]);
  const list = (page) => (Array.isArray(page) ? page : page.items || []);
  return { types: list(types), assets: list(assets) };
}

export async function deviceListView(main) {
  const query = params();
  const filters = { type: query.get('type') || '', status: query.get('status') || '', tag: query.get('tag') || '', asset: query.get('asset') || '' };
  const { types, assets } = await lookups();
  const typeNames = new Map(types.map((type) => [type.id, type.name]));

  const typeSelect = select({ name: 'type', id: 'filter-type' }, [['', 'Any type'], ...types.map((type) => [type.id, type.name])], filters.type);
  const statusSelect = select({ name: 'status', id: 'filter-status' }, [['', 'Any status'], ['active', 'Active'], ['decommissioned', 'Decommissioned']], filters.status);
  const tagInput = h('input', { type: 'search', name: 'tag', id: 'filter-tag', value: filters.tag, placeholder: 'e.g. line-2', maxlength: 100 });
  const assetSelect = select({ name: 'asset', id: 'filter-asset' }, [['', 'Any asset'], ...assets.map((asset) => [asset.id, `${asset.name} (${asset.kind})`])], filters.asset);
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter devices' },
    field('Type', typeSelect), field('Status', statusSelect), field('Tag', tagInput), field('Asset', assetSelect));

  const summary = h('p', { class: 'muted', id: 'device-count', 'aria-live': 'polite' });
  const spacer = h('div', { class: 'vlist-spacer' });
  const windowRows = h('div', { class: 'vlist-window', role: 'rowgroup' });
  const viewport = h('div', { class: 'vlist-viewport', id: 'device-rows', tabindex: '-1' }, spacer, windowRows);
  const table = h('div', { class: 'vlist', role: 'table', 'aria-label': 'Devices', 'aria-rowcount': '-1', 'aria-describedby': 'device-count' },
    h('div', { class: 'vlist-head', role: 'rowgroup' },
      h('div', { class: 'vlist-row head', role: 'row' },
        ['Name', 'Type', 'Connectivity', 'Last seen', 'Status', 'Tags'].map((name) => h('span', { role: 'columnheader', class: `col col-${name.toLowerCase().replace(' ', '-')}` }, name)))),
    viewport);
  replace(main, header('Devices'), form, summary, table);

  let items = [];
  let cursor = null;
  let exhausted = false;
  let loading = null;
  let generation = 0;
  let failed = null;

  async function loadMore() {
    if (loading || exhausted) return loading;
    const mine = generation;
    loading = (async () => {
      try {
        const page = await api('/api/v1/devices', { query: {
          tenantId: currentTenant(), deviceTypeId: filters.type, status: filters.status, tag: filters.tag, assetId: filters.asset,
          after: cursor, limit: items.length ? laterPage : firstPage,
        } });
        if (mine !== generation) return;
        items = items.concat(page.items || []);
        cursor = page.nextCursor || null;
        exhausted = !cursor;
        failed = null;
      } catch (error) {
        if (mine === generation) { failed = error; exhausted = true; }
      } finally {
        if (mine === generation) loading = null;
      }
      if (mine === generation) draw();
    })();
    return loading;
  }

  function row(device, index) {
    return h('a', { class: 'vlist-row', role: 'row', href: `${base}/devices/${device.id}`, 'aria-rowindex': String(index + 2), dataset: { index: String(index), deviceId: device.id } },
      h('span', { role: 'cell', class: 'col col-name' }, device.name),
      h('span', { role: 'cell', class: 'col col-type' }, typeNames.get(device.deviceTypeId) || '—'),
      h('span', { role: 'cell', class: 'col col-connectivity' }, h('span', { class: `badge ${device.connectivity}` }, device.connectivity)),
      h('span', { role: 'cell', class: 'col col-last-seen' }, device.lastSeenAt ? h('time', { datetime: device.lastSeenAt, title: device.lastSeenAt }, ago(device.lastSeenAt)) : 'never'),
      h('span', { role: 'cell', class: 'col col-status' }, device.status),
      h('span', { role: 'cell', class: 'col col-tags' }, (device.tags || []).join(', ')));
  }

  let drawn = [-1, -1];
  function draw(force = false) {
    const total = items.length + (exhausted ? 0 : 1);
    spacer.style.height = `${total * rowHeight}px`;
    const first = Math.max(0, Math.floor(viewport.scrollTop / rowHeight) - overscan);
    const last = Math.min(items.length, Math.ceil((viewport.scrollTop + viewport.clientHeight) / rowHeight) + overscan);
    if (force || first !== drawn[0] || last !== drawn[1]) {
      windowRows.style.transform = `translateY(${first * rowHeight}px)`;
      replace(windowRows, items.slice(first, last).map((device, offset) => row(device, first + offset)));
      drawn = [first, last];
    }
    summary.textContent = failed ? '' : `${items.length.toLocaleString()} device${items.length === 1 ? '' : 's'} loaded${exhausted ? '' : ', more as you scroll'}`;
    if (failed) summary.replaceChildren(problemBox(failed));
    if (!items.length && exhausted && !failed) replace(windowRows, h('p', { class: 'empty' }, 'No devices match these filters.'));
    // Near the end of what is loaded: the next page.
    if (!exhausted && last >= items.length - overscan * 4) loadMore();
  }

  function reset() {
    generation += 1;
    items = []; cursor = null; exhausted = false; loading = null; failed = null;
    viewport.scrollTop = 0;
    setParams(filters);
    draw(true);
  }

  let tagTimer = null;
  form.addEventListener('change', (event) => {
    if (event.target === tagInput) return;
    Object.assign(filters, { type: typeSelect.value, status: statusSelect.value, asset: assetSelect.value });
    reset();
  });
  tagInput.addEventListener('input', () => {
    clearTimeout(tagTimer);
    tagTimer = setTimeout(() => { filters.tag = tagInput.value.trim(); reset(); }, 300);
  });
  form.addEventListener('submit', (event) => event.preventDefault());

  let frame = 0;
  const onScroll = () => { if (!frame) frame = requestAnimationFrame(() => { frame = 0; draw(); }); };
  viewport.addEventListener('scroll', onScroll, { passive: true });
  window.addEventListener('resize', onScroll);
  // Arrow keys move between rows, scrolling rows into the DOM as needed.
  viewport.addEventListener('keydown', (event) => {
    const current = event.target.closest('.vlist-row');
    if (!current || !['ArrowDown', 'ArrowUp', 'Home', 'End'].includes(event.key)) return;
    event.preventDefault();
    const index = Number(current.dataset.index);
    const next = event.key === 'ArrowDown' ? index + 1 : event.key === 'ArrowUp' ? index - 1 : event.key === 'Home' ? 0 : items.length - 1;
    if (next < 0 || next >= items.length) return;
    const top = next * rowHeight;
    if (top < viewport.scrollTop) viewport.scrollTop = top;
    else if (top + rowHeight > viewport.scrollTop + viewport.clientHeight) viewport.scrollTop = top + rowHeight - viewport.clientHeight;
    draw();
    windowRows.querySelector(`[data-index="${next}"]`)?.focus();
  });

  await loadMore();
  return () => { generation += 1; window.removeEventListener('resize', onScroll); clearTimeout(tagTimer); };
}
