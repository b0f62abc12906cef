/**
 * The demo page's script, bundled with the client library by the local stack (`local/demo.ts`)
 * when `/demo.js` is first requested. Browser-only: it uses the DOM.
 */
import { TripSyncClient } from '../../client/src/index';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const user = params.get('user') || '42';

const client = new TripSyncClient({
  url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`,
  // The local stack's own token endpoint; the deployed app gets its token from its backend.
  token: async () => {
    const response = await fetch(`/local/token?user=${encodeURIComponent(user)}`);
    if (!response.ok)
      throw new Error(`token endpoint: ${response.status} ${await response.text()}`);
    return response.text();
  },
  // A reload resumes where this page stopped; one key per user.
  storage: localStorage,
  storageKey: `tripsync-demo:${user}`,
});

$('user').textContent = user;
$<HTMLInputElement>('send-to').value = user;
const list = $('messages');
let count = 0;

function append(seq: string, text: string, kind = ''): void {
  const item = document.createElement('li');
  if (kind) item.className = kind;
  const label = document.createElement('span');
  label.className = 'seq';
  label.textContent = seq;
  const body = document.createElement('code');
  body.textContent = text;
  item.append(label, body);
  if (kind !== 'gap') {
    item.dataset.seq = seq;
    $('count').textContent = String(++count);
  }
  list.append(item);
  list.scrollTop = list.scrollHeight;
}

client.on('message', ({ seq, message }) => {
  append(
    seq === undefined ? '–' : `#${seq}`,
    JSON.stringify(message),
    seq === undefined ? 'unlogged' : '',
  );
  const { epoch, seq: at } = client.cursor;
  $('cursor').textContent = `${at} (epoch ${epoch})`;
});
client.on('gap', (gap) =>
  append('gap', `history lost (${gap.reason}) after seq ${gap.previous.seq}`, 'gap'),
);
client.on('error', (error) => append('error', `${error.code}: ${error.message}`, 'gap'));
client.on('status', async (status) => {
  const badge = $('status');
  badge.textContent = status;
  badge.className = `status ${status}`;
  if (status !== 'open') {
    $('connection-id').textContent = '–';
    return;
  }
  try {
    $('connection-id').textContent = (await client.whoami()).connectionId;
  } catch {
    // Closed again before the answer: the next open shows its id.
  }
});

$('send-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const ids = $<HTMLInputElement>('send-to')
    .value.split(',')
    .map((id) => id.trim())
    .filter(Boolean);
  let message: unknown;
  try {
    message = JSON.parse($<HTMLTextAreaElement>('send-message').value);
  } catch (error) {
    $('send-result').textContent = `not JSON: ${error}`;
    return;
  }
  const payload = {
    ...(ids.length === 1 ? { userId: ids[0] } : { userIds: ids }),
    message,
    ...(!$<HTMLInputElement>('send-persist').checked && { persist: false }),
  };
  // The local stack's Lambda Invoke API, same origin (on AWS a backend invokes send with IAM).
  const response = await fetch('/2015-03-31/functions/send/invocations', {
    method: 'POST',
    body: JSON.stringify(payload),
  });
  $('send-result').textContent =
    `${response.headers.get('X-Amz-Function-Error') ? 'error' : 'sent'}: ${await response.text()}`;
});

$('drop-button').addEventListener('click', async () => {
  const id = $('connection-id').textContent;
  if (!id || id === '–') {
    $('drop-result').textContent = 'not connected';
    return;
  }
  // The Management API's DELETE: API Gateway closes the socket (1000) and runs $disconnect.
  const response = await fetch(`/@connections/${encodeURIComponent(id)}`, { method: 'DELETE' });
  $('drop-result').textContent = `DELETE @connections/${id} → ${response.status}`;
});

client.connect();
