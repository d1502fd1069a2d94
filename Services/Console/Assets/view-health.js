// Platform health (platform-admins): every service's readiness as the gateway sees it, the
// pipeline's lag and throughput (rates from two samples of the services' own counters), and the
// failover orchestrator's view of each region's database nodes.
import { api } from './api.js';
import { h, header, number, problemBox, replace } from './dom.js';

export async function healthView(main) {
  const services = h('div', { id: 'service-health' });
  const regions = h('div', { id: 'failover-status' });
  const pipeline = h('div', { id: 'pipeline' });
  replace(main, header('Platform health'), h('section', { class: 'card' }, h('h2', {}, 'Services'), services),
    h('section', { class: 'card' }, h('h2', {}, 'Pipeline'), pipeline),
    h('section', { class: 'card' }, h('h2', {}, 'Database failover'), regions));
  let previous = null;
  /** Lag and per-second rates from this sample and the one before (the first shows lag only). */
  function drawPipeline(health) {
    const now = { at: Date.parse(health.checkedAt) || Date.now(), metrics: {} };
    for (const service of health.services) Object.assign(now.metrics, service.metrics || {});
    const rate = (name) => {
      if (!previous || now.metrics[name] === undefined || previous.metrics[name] === undefined || now.at <= previous.at) return '…';
      return `${number(Math.max(0, now.metrics[name] - previous.metrics[name]) / ((now.at - previous.at) / 1000), 1)}/s`;
    };
    const value = (name, unit = '') => (now.metrics[name] === undefined ? '—' : `${number(now.metrics[name], 0)}${unit}`);
    const rows = [
      ['Edge: messages forwarded to Kafka', rate('sensormine_edge_messages_forwarded_total'), `spool ${value('sensormine_edge_spool_bytes', ' B')}`],
      ['Ingestion: points stored', rate('sensormine_ingestion_points_stored_total'), `lag ${value('sensormine_ingestion_consumer_lag')} messages`],
      ['Ingestion: dead letters', rate('sensormine_ingestion_dead_letters_total'), `${value('sensormine_ingestion_dead_letters_total')} since start`],
      ['Stream processing: points evaluated', rate('sensormine_stream_points_total'), `lag ${value('sensormine_stream_consumer_lag')} messages`],
      ['Stream processing: alert events', rate('sensormine_stream_alert_events_total'), ''],
    ];
    replace(pipeline, h('table', { class: 'data', id: 'pipeline-table' },
      h('thead', {}, h('tr', {}, ['Stage', 'Throughput', 'Backlog'].map((name) => h('th', { scope: 'col' }, name)))),
      h('tbody', {}, rows.map(([stage, throughput, backlog]) => h('tr', {}, h('th', { scope: 'row' }, stage), h('td', { class: 'num' }, throughput), h('td', {}, backlog))))),
    h('p', { class: 'muted' }, 'From one replica of each service (its /metrics, through the gateway), sampled every 5 s; Prometheus has every replica.'));
    previous = now;
  }

  async function load() {
    const [health, failover] = await Promise.all([
      api('/api/v1/platform/health').catch((error) => ({ error })),
      api('/api/v1/failover/status').catch((error) => ({ error })),
    ]);
    if (!health.error) drawPipeline(health);
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
