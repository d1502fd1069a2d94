// The asset tree (site → area → machine), with the devices on each machine on demand.
import { api, currentTenant } from './api.js';
import { h, header, replace } from './dom.js';
import { base } from './router.js';

export async function assetTreeView(main) {
  const answer = await api('/api/v1/assets', { query: { tenantId: currentTenant() } });
  const assets = answer.items || answer;
  const children = new Map();
  for (const asset of assets) {
    const key = asset.parentId || '';
    if (!children.has(key)) children.set(key, []);
    children.get(key).push(asset);
  }
  for (const list of children.values()) list.sort((a, b) => a.name.localeCompare(b.name));
  const known = new Set(assets.map((asset) => asset.id));
  // Roots: no parent, or a parent this caller cannot see.
  const roots = assets.filter((asset) => !asset.parentId || !known.has(asset.parentId));

  function node(asset, level) {
    const kids = children.get(asset.id) || [];
    const devices = h('ul', { class: 'tree-devices', role: 'group', hidden: true });
    const item = h('li', { role: 'treeitem', 'aria-level': String(level), 'aria-expanded': 'true', tabindex: level === 1 ? '0' : '-1', dataset: { assetId: asset.id } },
      h('span', { class: `tree-label kind-${asset.kind}` }, h('span', { class: 'kind' }, asset.kind), ' ', asset.name, ' ',
        h('button', { type: 'button', class: 'small secondary', 'aria-label': `Show devices of ${asset.name}`, onclick: (event) => { event.stopPropagation(); showDevices(asset, devices); } }, 'Devices')),
      devices,
      kids.length ? h('ul', { role: 'group' }, kids.map((kid) => node(kid, level + 1))) : null);
    return item;
  }
  async function showDevices(asset, list) {
    list.hidden = !list.hidden;
    if (list.hidden || list.dataset.loaded) return;
    const page = await api('/api/v1/devices', { query: { assetId: asset.id, limit: 200 } });
    list.dataset.loaded = 'yes';
    replace(list, page.items.length ? page.items.map((device) => h('li', {}, h('a', { href: `${base}/devices/${device.id}` }, device.name), ' ',
      h('span', { class: `badge ${device.connectivity}` }, device.connectivity))) : h('li', { class: 'muted' }, 'No devices directly on this asset.'),
    page.nextCursor ? h('li', {}, h('a', { href: `${base}/devices?asset=${asset.id}` }, 'All of them in the device list')) : null);
  }
  const tree = h('ul', { class: 'tree', role: 'tree', 'aria-label': 'Assets', id: 'asset-tree' }, roots.map((asset) => node(asset, 1)));
  // Arrow keys walk the visible tree items; Left/Right collapse and expand.
  tree.addEventListener('keydown', (event) => {
    const current = event.target.closest('[role=treeitem]');
    if (!current || event.target !== current) return;
    const items = [...tree.querySelectorAll('[role=treeitem]')].filter((item) => item.offsetParent !== null);
    const index = items.indexOf(current);
    let next = null;
    if (event.key === 'ArrowDown') next = items[index + 1];
    else if (event.key === 'ArrowUp') next = items[index - 1];
    else if (event.key === 'ArrowLeft' || event.key === 'ArrowRight') {
      const group = current.querySelector(':scope > ul[role=group]:not(.tree-devices)');
      if (group) { group.hidden = event.key === 'ArrowLeft'; current.setAttribute('aria-expanded', String(!group.hidden)); }
    } else return;
    event.preventDefault();
    if (next) { current.tabIndex = -1; next.tabIndex = 0; next.focus(); }
  });
  replace(main, header('Assets'), roots.length ? tree : h('p', { class: 'empty' }, 'No assets yet. Sites, areas and machines are created through the API (POST /api/v1/assets).'));
  return null;
}
