// Dead letters: rejected telemetry with its reason, the original bytes, and replay of the ones
// selected (each goes through the normal path again, once).
import { api, hasRole } from './api.js';
import { dialog, field, h, header, replace, time, toast } from './dom.js';
import { base, params, setParams } from './router.js';

/** The original message for people: pretty JSON when it parses, else the text, else hex. */
export function decodeOriginal(base64) {
  let bytes;
  try { bytes = Uint8Array.from(atob(base64 || ''), (c) => c.charCodeAt(0)); } catch { return { kind: 'invalid', text: base64 }; }
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  try {
    const value = JSON.parse(text);
    // The telemetry envelope (ARCHITECTURE.md): what the device sent is its payload.
    const sent = value && typeof value === 'object' && 'payload' in value ? value.payload
      : value && typeof value === 'object' && typeof value.payloadBase64 === 'string' ? decodeOriginal(value.payloadBase64).text : undefined;
    return { kind: 'json', text: JSON.stringify(value, null, 2), payload: sent === undefined ? undefined : typeof sent === 'string' ? sent : JSON.stringify(sent, null, 2) };
  } catch { /* not JSON */ }
  // eslint-disable-next-line no-control-regex
  if (!/[\u0000-\u0008\u000e-\u001f]/.test(text)) return { kind: 'text', text };
  return { kind: 'binary', text: [...bytes.slice(0, 4096)].map((b) => b.toString(16).padStart(2, '0')).join(' ') };
}

export async function deadLettersView(main) {
  const query = params();
  const filters = { reason: query.get('reason') || '', device: query.get('device') || '', replayed: query.get('replayed') || 'false' };
  const operator = hasRole('operator', 'tenant-admin');
  const reasonInput = h('input', { type: 'search', id: 'dl-reason', value: filters.reason, maxlength: 200 });
  const showReplayed = h('input', { type: 'checkbox', id: 'dl-show-replayed', checked: filters.replayed !== 'false' });
  const body = h('tbody');
  const selectAll = h('input', { type: 'checkbox', id: 'dl-select-all', 'aria-label': 'Select every dead letter shown' });
  const replayButton = h('button', { type: 'button', id: 'dl-replay', disabled: true }, 'Replay selected');
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more');
  replace(main, header('Dead letters', operator ? replayButton : null),
    h('form', { class: 'filters', role: 'search' }, field('Reason contains', reasonInput), h('label', { class: 'check' }, showReplayed, ' Show replayed')),
    h('table', { class: 'data', id: 'deadletters-table' }, h('caption', { class: 'visually-hidden' }, 'Dead letters'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, operator ? selectAll : ''), ['Received', 'Reason', 'Device', 'Schema', 'Replayed', ''].map((name) => h('th', { scope: 'col' }, name)))), body),
    more);

  let next = null;
  const shown = new Map();
  function row(letter) {
    shown.set(String(letter.id), letter);
    return h('tr', { dataset: { deadLetterId: String(letter.id) } },
      h('td', {}, operator ? h('input', { type: 'checkbox', class: 'dl-select', value: String(letter.id), 'aria-label': `Select dead letter ${letter.id}` }) : ''),
      h('td', {}, time(letter.receivedAt)),
      h('td', { class: 'reason' }, letter.reason),
      h('td', {}, letter.deviceId ? h('a', { href: `${base}/devices/${letter.deviceId}` }, letter.deviceId.slice(0, 8)) : '—'),
      h('td', {}, letter.schemaSubject ? `${letter.schemaSubject} v${letter.schemaVersion ?? '?'}` : '—'),
      h('td', {}, letter.replayedAt ? time(letter.replayedAt) : 'no'),
      h('td', {}, h('button', { type: 'button', class: 'small secondary', dataset: { inspect: String(letter.id) } }, 'Inspect')));
  }
  async function load(append = false) {
    if (!append) { next = null; shown.clear(); }
    setParams({ reason: filters.reason, replayed: filters.replayed === 'false' ? '' : 'true' });
    const page = await api('/api/v1/deadletters', { query: { reason: filters.reason, replayed: filters.replayed === 'false' ? 'false' : undefined, cursor: next, limit: 100 } });
    const rows = (page.items || []).map(row);
    if (append) body.append(...rows);
    else replace(body, rows.length ? rows : h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'No dead letters.')));
    next = page.next || null;
    more.hidden = !next;
    updateSelection();
  }
  function selected() { return [...body.querySelectorAll('input.dl-select:checked')].map((box) => Number(box.value)); }
  function updateSelection() {
    const count = selected().length;
    replayButton.disabled = count === 0;
    replayButton.textContent = count ? `Replay ${count} selected` : 'Replay selected';
  }
  body.addEventListener('change', updateSelection);
  selectAll.addEventListener('change', () => { for (const box of body.querySelectorAll('input.dl-select')) box.checked = selectAll.checked; updateSelection(); });
  body.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-inspect]');
    if (!button) return;
    const letter = shown.get(button.dataset.inspect);
    const original = decodeOriginal(letter.original);
    dialog(`Dead letter ${letter.id}`,
      h('dl', { class: 'facts' }, h('dt', {}, 'Reason'), h('dd', {}, letter.reason), h('dt', {}, 'Message id'), h('dd', {}, letter.messageId || '—'),
        h('dt', {}, 'Received'), h('dd', {}, time(letter.receivedAt))),
      original.payload !== undefined ? [h('h3', {}, 'What the device sent'), h('pre', { class: 'payload', id: 'dl-payload', tabindex: '0' }, original.payload)] : null,
      h('details', { open: original.payload === undefined },
        h('summary', {}, `The message as received (${original.kind})`), h('pre', { class: 'payload', id: 'dl-original', tabindex: '0' }, original.text)));
  });
  replayButton.addEventListener('click', async () => {
    const ids = selected();
    if (!ids.length) return;
    replayButton.disabled = true;
    try {
      const answer = await api('/api/v1/deadletters/replay', { method: 'POST', json: { ids } });
      toast(`${answer.replayed} dead letter${answer.replayed === 1 ? '' : 's'} replayed`);
      await load();
    } catch (error) {
      toast(error.detail || error.message, 'error');
      updateSelection();
    }
  });
  let timer = null;
  reasonInput.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => { filters.reason = reasonInput.value.trim(); load().catch((e) => toast(e.detail, 'error')); }, 300); });
  showReplayed.addEventListener('change', () => { filters.replayed = showReplayed.checked ? 'true' : 'false'; load().catch((e) => toast(e.detail, 'error')); });
  more.addEventListener('click', () => load(true).catch((e) => toast(e.detail, 'error')));
  main.querySelector('form').addEventListener('submit', (event) => event.preventDefault());
  await load();
  return () => clearTimeout(timer);
}
