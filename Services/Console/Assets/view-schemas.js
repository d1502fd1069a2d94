// Schemas: the tenant's subjects and their versions (with what changed from one version to the
// next), and a new schema proposed from an uploaded sample (CSV, JSON, XML), edited, registered.
import { api, hasRole } from './api.js';
import { field, h, header, number, problemBox, replace, time, toast } from './dom.js';
import { base, navigate } from './router.js';

export async function schemasView(main) {
  const page = await api('/api/v1/schemas/subjects');
  const subjects = page.items || [];
  replace(main, header('Schemas', hasRole('tenant-admin') ? h('a', { href: `${base}/schemas/new`, class: 'button', id: 'schema-new' }, 'New from a sample') : null),
    h('table', { class: 'data', id: 'subjects-table' }, h('thead', {}, h('tr', {}, ['Subject', 'Latest version', 'Compatibility', 'Updated'].map((name) => h('th', { scope: 'col' }, name)))),
      h('tbody', {}, subjects.length ? subjects.map((subject) => h('tr', {},
        h('td', {}, h('a', { href: `${base}/schemas/${encodeURIComponent(subject.name)}` }, subject.name)),
        h('td', { class: 'num' }, subject.latestVersion ? `v${subject.latestVersion}` : '—'),
        h('td', {}, subject.compatibility), h('td', {}, time(subject.updatedAt)))) : h('tr', {}, h('td', { colspan: 4, class: 'empty' }, 'No schemas yet.')))));
  return null;
}

/** What changed between two versions' top-level properties, as a compatibility reader sees it. */
export function changes(previous, current) {
  const props = (schema) => Object.keys(schema?.properties || {});
  const required = (schema) => new Set(schema?.required || []);
  const before = new Set(props(previous));
  const after = new Set(props(current));
  const out = [];
  for (const name of after) if (!before.has(name)) out.push(`${required(current).has(name) ? 'added required' : 'added optional'} ${name}`);
  for (const name of before) if (!after.has(name)) out.push(`removed ${name}`);
  for (const name of after) {
    if (!before.has(name)) continue;
    const a = JSON.stringify(previous.properties[name]);
    const b = JSON.stringify(current.properties[name]);
    if (a !== b) out.push(`changed ${name}`);
    if (!required(previous).has(name) && required(current).has(name)) out.push(`${name} became required`);
  }
  return out;
}

export async function schemaSubjectView(main, { subject }) {
  const [info, versions] = await Promise.all([
    api(`/api/v1/schemas/subjects/${encodeURIComponent(subject)}`),
    api(`/api/v1/schemas/subjects/${encodeURIComponent(subject)}/versions`),
  ]);
  const items = versions.items || [];
  const latest = items[items.length - 1];
  replace(main, header(`Schema ${subject}`, h('a', { href: `${base}/schemas`, class: 'button secondary' }, 'All schemas')),
    h('p', {}, `Compatibility: ${info.compatibility}. A new version that breaks it is refused, with every breaking change listed.`),
    h('table', { class: 'data', id: 'versions-table' }, h('thead', {}, h('tr', {}, ['Version', 'Registered', 'Changes from the previous version', 'State'].map((name) => h('th', { scope: 'col' }, name)))),
      h('tbody', {}, items.map((version, index) => h('tr', {},
        h('td', { class: 'num' }, `v${version.version}`), h('td', {}, time(version.createdAt)),
        h('td', {}, index === 0 ? 'first version' : changes(items[index - 1].schema, version.schema).join('; ') || 'no change to properties'),
        h('td', {}, version.deprecated ? 'deprecated' : 'live'))))),
    latest ? h('section', { class: 'card' }, h('h2', {}, `v${latest.version}`), h('pre', { class: 'payload', tabindex: '0' }, JSON.stringify(latest.schema, null, 2))) : null);
  return null;
}

const formats = { csv: 'text/csv', json: 'application/json', ndjson: 'application/json', xml: 'application/xml', txt: 'text/plain' };

export async function schemaUploadView(main) {
  const file = h('input', { type: 'file', id: 'sample-file', accept: '.csv,.json,.ndjson,.xml,.txt,text/csv,application/json,application/xml' });
  const subject = h('input', { id: 'schema-subject', required: true, maxlength: 200, pattern: '[A-Za-z0-9._\\-]+', placeholder: 'e.g. boiler-telemetry' });
  const fieldsBody = h('tbody');
  const editor = h('textarea', { id: 'schema-text', rows: 16, spellcheck: 'false', class: 'code' });
  const message = h('div', { role: 'alert', class: 'form-error', id: 'schema-message' });
  const proposal = h('section', { class: 'card', hidden: true, id: 'schema-proposal' },
    h('h2', {}, 'Proposed schema'),
    h('table', { class: 'data', id: 'inferred-fields' }, h('thead', {}, h('tr', {}, ['Field', 'Type', 'Required', 'Confidence', 'Range', 'Suggestions'].map((name) => h('th', { scope: 'col' }, name)))), fieldsBody),
    field('Subject', subject, 'Letters, digits, dot, dash and underscore.'), field('Schema (JSON Schema 2020-12, edit before registering)', editor),
    message, h('div', { class: 'actions' }, h('button', { type: 'button', id: 'schema-register' }, 'Register')));
  replace(main, header('New schema from a sample', h('a', { href: `${base}/schemas`, class: 'button secondary' }, 'All schemas')),
    h('section', { class: 'card' }, field('Sample file (CSV, JSON, NDJSON or XML)', file, 'A few records are enough; the file is sent to the schema registry, which proposes a schema.')),
    proposal);

  file.addEventListener('change', async () => {
    const chosen = file.files[0];
    if (!chosen) return;
    const extension = chosen.name.split('.').pop().toLowerCase();
    message.textContent = '';
    try {
      const answer = await api('/api/v1/schemas/infer', { method: 'POST', body: await chosen.arrayBuffer(), contentType: formats[extension] || chosen.type || 'text/plain',
        query: { format: extension === 'ndjson' ? 'json' : formats[extension] ? (extension === 'txt' ? 'kv' : extension) : undefined } });
      replace(fieldsBody, answer.fields.map((item) => h('tr', {},
        h('th', { scope: 'row' }, item.name), h('td', {}, item.format ? `${item.type} (${item.format})` : item.type), h('td', {}, item.required ? 'yes' : 'no'),
        h('td', {}, h('meter', { min: 0, max: 1, value: item.confidence, 'aria-label': `confidence ${Math.round(item.confidence * 100)}%` }), ` ${Math.round(item.confidence * 100)}%`),
        h('td', {}, item.minimum !== undefined ? `${number(item.minimum)} … ${number(item.maximum)}${item.unit ? ` ${item.unit}` : ''}` : item.unit || ''),
        h('td', {}, (item.suggestions || []).join('; ')))));
      editor.value = JSON.stringify(answer.schema, null, 2);
      if (!subject.value) subject.value = chosen.name.replace(/\.[^.]+$/, '').toLowerCase().replace(/[^a-z0-9._-]+/g, '-');
      proposal.hidden = false;
      toast(`${answer.records} records read (${answer.format}, ${answer.engine})`);
    } catch (error) {
      message.replaceChildren(problemBox(error));
      proposal.hidden = false;
    }
  });

  document.getElementById('schema-register').addEventListener('click', async () => {
    message.textContent = '';
    let schema;
    try { schema = JSON.parse(editor.value); } catch (error) { message.textContent = `The schema is not JSON: ${error.message}`; editor.focus(); return; }
    const name = subject.value.trim();
    if (!subject.checkValidity() || !name) { message.textContent = 'Name the subject (letters, digits, dot, dash, underscore).'; subject.focus(); return; }
    try {
      await api('/api/v1/schemas/subjects', { method: 'POST', json: { name } }).catch((error) => { if (error.status !== 409) throw error; });
      const registered = await api(`/api/v1/schemas/subjects/${encodeURIComponent(name)}/versions`, { method: 'POST', json: { schema } });
      toast(registered.existing ? `Already registered as v${registered.version.version}` : `Registered ${name} v${registered.version.version}`);
      navigate(`/schemas/${encodeURIComponent(name)}`);
    } catch (error) {
      message.replaceChildren(problemBox(error), h('ul', {}, (error.errors || []).map((item) => h('li', {}, `${item.pointer}: ${item.detail}`))));
    }
  });
  return null;
}
