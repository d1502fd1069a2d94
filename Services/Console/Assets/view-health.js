// Platform health (platform-admins): every service's readiness as the gateway sees it, and the
// failover orchestrator's view of each region's database nodes.
import { api } from './api.js';
import { h, header, number, problemBox, replace } from './dom.js';

export async function healthView(main) {
  const services = h('div', { id: 'service-health' });
  const regions = h('div', { id: 'failover-status' });
  replace(main, header('Platform health'), h('section', { class: 'card' }, h('h2', {}, 'Services'), services),
    h('section', { class: 'card' }, h('h2', {}, 'Database failover'), regions));
  async function load() {
    const [health, failover] = await Promise.all([
      api('/api/v1/platform/health').catch((error) => ({ error })),
      api('/api/v1/failover/status').catch((error) => ({ error })),
    ]);
    replace(services, health.error ? problemBox(health.error) : h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, ['Service', 'Serves', 'Ready', 'Checks', 'Answered in'].map((name) => h('th', { scope: 'col' }, name)))),
      h('tbody', {}, health.services.map((service) => h('tr', { dataset: { service: service.name } },
        h('th', { scope: 'row' }, service.name), h('td', {}, service.prefixes.join(', ')),
        h('td', {}, h('span', { class: `badge ${service.ready ? 'online' : 'offline'}` }, service.ready ? 'ready' : 'not ready')),
        h('td', {}, Object.entries(service.checks || {}).map(([name, state]) => `${name}: ${state}`).join('; ') || service.detail || ''),
        h('td', { class: 'num' }, `${number(service.milliseconds, 1)} ms`))))));
    if (failover.error) { replace(regions, problemBox(failover.error)); return; }
    const lag = (node) => (node.lagBytes === undefined ? '—' : `${number(node.lagBytes, 0)} B${node.lagSeconds === undefined ? '' : `, ${number(node.lagSeconds, 2)} s`}`);
    const nodeRow = (region, node) => h('tr', {},
      h('td', {}, region.name), h('td', {}, node.name),
      h('td', {}, h('span', { class: `badge ${node.role === 'primary' || node.role === 'standby' ? 'online' : 'offline'}` }, node.role)),
      h('td', { class: 'num' }, node.timeline ?? '—'), h('td', { class: 'num' }, lag(node)));
    replace(regions,
      h('p', {}, `Primary ${failover.primary || 'unknown'} · replication ${failover.replication} · epoch ${failover.epoch} · automatic failover ${failover.automaticFailover ? 'on' : 'off'}`,
        failover.failoverHeld ? h('strong', { class: 'warning-text' }, ` · held: ${failover.failoverHeld}`) : null),
      h('table', { class: 'data' }, h('thead', {}, h('tr', {}, ['Region', 'Node', 'Role', 'Timeline', 'Lag'].map((name) => h('th', { scope: 'col' }, name)))),
        h('tbody', {}, failover.regions.flatMap((region) => region.nodes.map((node) => nodeRow(region, node))))));
  }
  await load();
  const timer = setInterval(() => load().catch(() => {}), 5000);
  return () => clearInterval(timer);
}
