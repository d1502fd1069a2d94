// Small DOM helpers. Every text goes in through textContent, never innerHTML, so data from the
// API (device names, payloads, reasons) cannot become markup or script.

/** Creates an element: h('a', {href: '/x', class: 'y', onclick: fn}, 'text', child). */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2), value);
    else if (key === 'class') element.className = value;
    else if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key === 'value' && 'value' in element) element.value = value;
    else if (key === 'checked' || key === 'selected' || key === 'disabled' || key === 'hidden') element[key] = Boolean(value);
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** A labelled form field: the label wraps the control, so it is named for assistive technology. */
export function field(label, control, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), control, hint ? h('span', { class: 'hint' }, hint) : null);
}

/** A <select> of [value, text] pairs. */
export function select(props, options, selected) {
  return h('select', props, options.map(([value, text]) => h('option', { value, selected: value === selected }, text)));
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** A date-time for people, in their time zone; the ISO form is kept for machines and tests. */
export function time(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const date = new Date(iso);
  return h('time', { datetime: iso, title: iso }, Number.isNaN(date.getTime()) ? iso : timeFormat.format(date));
}

/** "3 min ago". */
export function ago(iso) {
  if (!iso) return 'never';
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return `${Math.max(seconds, 0)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

export function number(value, digits = 2) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '—';
  return value.toLocaleString(undefined, { maximumFractionDigits: digits });
}

/** A message for the toast region (announced by screen readers). */
export function toast(message, kind = 'info') {
  const region = document.getElementById('toast');
  const item = h('p', { class: `toast-item ${kind}` }, message);
  region.append(item);
  // At most three at a time; each fades after a few seconds (errors stay longer).
  while (region.children.length > 3) region.firstElementChild.remove();
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 3500);
}

/** A heading plus actions, the top of every view. */
export function header(title, ...actions) {
  return h('div', { class: 'view-header' }, h('h1', {}, title), h('div', { class: 'actions' }, actions));
}

/** An error shown where a view's content would be. */
export function problemBox(error) {
  return h('div', { class: 'problem', role: 'alert' }, h('strong', {}, error.title || 'Something went wrong'), ' ', error.detail || error.message || '');
}

/** A dialog (native <dialog>: focus is trapped and Escape closes it). */
export function dialog(title, ...content) {
  const close = h('button', { type: 'button', class: 'secondary', onclick: () => box.close() }, 'Close');
  const box = h('dialog', { 'aria-labelledby': 'dialog-title' }, h('h2', { id: 'dialog-title' }, title), content, h('div', { class: 'actions' }, close));
  box.addEventListener('close', () => box.remove());
  document.body.append(box);
  box.showModal();
  return box;
}

/** Triggers a download of `blob` named `name`. */
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
