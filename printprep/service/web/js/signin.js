// Sign-in page: the token goes to POST /signin, which sets the session cookie.
import { errorText } from './api.js';
import { clearMessage, initPage, showMessage } from './ui.js';

initPage();

const form = document.getElementById('signin-form');
const params = new URLSearchParams(location.search);
const next = params.get('next');
// Only same-site paths: never bounce to another site after signing in.
const safeNext = next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
document.getElementById('next').value = safeNext;
if (params.get('error')) showMessage('That token is not valid. Check it and try again.', 'error', { key: 'signin' });
else if (params.get('expired')) showMessage('Please sign in to continue.', 'info', { key: 'signin' });
else if (params.get('signedout')) showMessage('You are signed out.', 'ok', { key: 'signin' });

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearMessage('signin');
  const token = form.elements.token.value.trim();
  if (!token) {
    showMessage('Enter your access token.', 'error', { key: 'signin' });
    form.elements.token.focus();
    return;
  }
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    const resp = await fetch('/signin', {
      method: 'POST',
      headers: { Accept: 'application/json' },
      body: new URLSearchParams({ token, next: safeNext }),
      credentials: 'same-origin',
    });
    let data = null;
    try { data = await resp.json(); } catch { data = null; }
    if (!resp.ok) {
      showMessage(errorText(resp.status, data, 'Sign-in failed.'), 'error', { key: 'signin' });
      form.elements.token.select();
      return;
    }
    location.assign((data && data.next) || safeNext);
  } catch {
    showMessage('The printprep server cannot be reached. Check that it is running.', 'error', { key: 'signin' });
  } finally {
    button.disabled = false;
  }
});
