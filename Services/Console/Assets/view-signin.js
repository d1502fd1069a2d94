// Sign-in with the platform's token endpoint (password grant). The URL stays as it was, so a
// deep link opens its view once signed in.
import { signIn } from './api.js';
import { field, h, replace } from './dom.js';

export function signInView(main) {
  const email = h('input', { type: 'email', name: 'username', autocomplete: 'username', required: true, id: 'signin-email' });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true, id: 'signin-password' });
  const message = h('p', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', id: 'signin-submit' }, 'Sign in');
  const form = h('form', { class: 'signin card', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in to Sensormine'),
    field('E-mail', email), field('Password', password), message, submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    message.textContent = '';
    try {
      await signIn(email.value.trim(), password.value);
    } catch (error) {
      message.textContent = error.status === 429 ? `Too many attempts: ${error.detail}` : (error.detail || error.message || 'Sign-in failed');
      submit.disabled = false;
      password.select();
    }
  });
  replace(main, form);
  email.focus();
  return null;
}
