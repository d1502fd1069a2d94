// The console's shell: sign-in gate, navigation, tenant switcher, and the view the URL names.
import { api, claims, currentTenant, onSessionChange, setTenant, signedIn, signOut } from './api.js';
import { h, problemBox, replace } from './dom.js';
import { base, match, navigate, route, start } from './router.js';
import { signInView } from './view-signin.js';
import { deviceListView } from './view-devices.js';
import { deviceView } from './view-device.js';
import { assetTreeView } from './view-assets.js';
import { alertsView, ruleEditorView, rulesView } from './view-alerts.js';
import { deadLettersView } from './view-deadletters.js';
import { schemasView, schemaSubjectView, schemaUploadView } from './view-schemas.js';
import { usageView } from './view-usage.js';
import { healthView } from './view-health.js';

route('/', () => navigate('/devices', { replace: true }));
route('/devices', deviceListView);
route('/devices/:id', deviceView);
route('/assets', assetTreeView);
route('/alerts', alertsView);
route('/alerts/rules', rulesView);
route('/alerts/rules/new', ruleEditorView);
route('/alerts/rules/:id', ruleEditorView);
route('/deadletters', deadLettersView);
route('/schemas', schemasView);
route('/schemas/new', schemaUploadView);
route('/schemas/:subject', schemaSubjectView);
route('/usage', usageView);
route('/health', healthView);

const main = document.getElementById('main');
let unmount = null;
let renderCount = 0;

/** Renders the view the URL names; a view may return a cleanup function (timers, charts). */
async function render() {
  const serial = ++renderCount;
  if (typeof unmount === 'function') unmount();
  unmount = null;
  const signed = signedIn();
  document.getElementById('topbar').hidden = !signed;
  document.getElementById('nav').hidden = !signed;
  if (!signed) {
    document.getElementById('toast').replaceChildren();
    document.title = 'Sign in · Sensormine';
    unmount = signInView(main);
    return;
  }
  const found = match(location.pathname);
  markCurrentSection();
  closeMenu();
  if (!found) {
    replace(main, h('h1', {}, 'Not found'), h('p', {}, 'No view lives at this address. '), h('a', { href: `${base}/devices` }, 'Go to devices'));
    return;
  }
  // Each render draws into its own outlet: a view still loading when the user moves on keeps
  // writing into an outlet no longer in the page, never over the view that replaced it.
  const outlet = h('div', { class: 'view' }, h('p', { class: 'loading' }, 'Loading…'));
  replace(main, outlet);
  window.scrollTo(0, 0);
  try {
    const cleanup = await found.view(outlet, found.params);
    if (serial !== renderCount) { if (typeof cleanup === 'function') cleanup(); return; }
    unmount = cleanup;
  } catch (error) {
    if (serial === renderCount) replace(outlet, problemBox(error));
  }
  if (serial === renderCount && document.activeElement === document.body) main.focus({ preventScroll: true });
}

function markCurrentSection() {
  const section = location.pathname.slice(base.length + 1).split('/')[0];
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.dataset.section === section) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  }
}

const menuToggle = document.getElementById('menu-toggle');
function closeMenu() {
  document.getElementById('nav').classList.remove('open');
  menuToggle.setAttribute('aria-expanded', 'false');
}
menuToggle.addEventListener('click', () => {
  const open = document.getElementById('nav').classList.toggle('open');
  menuToggle.setAttribute('aria-expanded', String(open));
});
document.getElementById('sign-out').addEventListener('click', () => { signOut(); navigate('/devices'); });

const tenantSelect = document.getElementById('tenant-select');
tenantSelect.addEventListener('change', () => setTenant(tenantSelect.value));

/** Fills the tenant switcher with the tenants the caller sees; hidden when there is only one. */
async function loadTenants() {
  const own = claims().tid;
  document.querySelector('#nav [data-admin]').hidden = !claims().roles.includes('platform-admin');
  document.getElementById('who').textContent = claims().roles.join(', ');
  try {
    const page = await api('/api/v1/tenants', { query: { limit: 200 } });
    const tenants = page.items || [];
    const options = [h('option', { value: '' }, 'Everything I can see')];
    for (const tenant of tenants) {
      options.push(h('option', { value: tenant.id, selected: tenant.id === currentTenant() }, `${tenant.name} (${tenant.kind})${tenant.id === own ? ' · mine' : ''}`));
    }
    replace(tenantSelect, options);
    document.getElementById('tenant-switch').hidden = tenants.length < 2;
  } catch {
    document.getElementById('tenant-switch').hidden = true;
  }
}

let wasSignedIn = false;
onSessionChange(() => {
  const now = signedIn();
  if (now && !wasSignedIn) loadTenants();
  wasSignedIn = now;
  render();
});

start(render);
