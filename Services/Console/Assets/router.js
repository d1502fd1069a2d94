// Every view is a URL under /console/: links are ordinary <a href> (open in a new tab, copy,
// bookmark), clicks on them are handled here with the History API, and the back button
// re-renders the view the URL names.

export const base = '/console';
const routes = [];
let render = () => {};

/** Registers a view for a pattern such as '/devices/:id'. */
export function route(pattern, view) {
  const names = [];
  const regex = new RegExp(`^${pattern.replace(/:([a-zA-Z]+)/g, (_, name) => { names.push(name); return '([^/]+)'; })}/?$`);
  routes.push({ regex, names, view });
}

/** The view and parameters for a path under the base, or null. */
export function match(path) {
  const local = path.startsWith(base) ? path.slice(base.length) || '/' : path;
  for (const { regex, names, view } of routes) {
    const found = regex.exec(local);
    if (found) return { view, params: Object.fromEntries(names.map((name, index) => [name, decodeURIComponent(found[index + 1])])) };
  }
  return null;
}

export function start(renderer) {
  render = renderer;
  window.addEventListener('popstate', () => render());
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = event.target.closest('a[href]');
    if (!link || link.target || link.hasAttribute('download')) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith(base)) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
  render();
}

/** Goes to a console URL, adding a history entry (or replacing the current one). */
export function navigate(url, { replace = false } = {}) {
  const target = url.startsWith(base) ? url : base + url;
  if (replace) history.replaceState(null, '', target); else history.pushState(null, '', target);
  render();
}

/** The current URL's query parameters. */
export function params() { return new URLSearchParams(location.search); }

/** Rewrites the query string without a new history entry (filters typed into a view). */
export function setParams(values) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) if (value) search.set(key, value);
  const text = search.toString();
  history.replaceState(null, '', location.pathname + (text ? `?${text}` : ''));
}
