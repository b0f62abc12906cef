/**
 * A client process that opens many connections and is then killed (SIGKILL) by the test: its
 * clients vanish without a close frame, as an app killed by the phone's OS does. Started with
 * `fork`; gets `{ url, tokens }` over IPC, answers `{ open, failed }` once every handshake
 * has ended one way or the other.
 */
import { WebSocket } from 'ws';

process.on('message', (message: { url: string; tokens: string[] }) => {
  let open = 0;
  let failed = 0;
  const sockets: WebSocket[] = [];
  const settled = () => {
    if (open + failed === message.tokens.length) process.send?.({ open, failed });
  };
  for (const token of message.tokens) {
    const ws = new WebSocket(`${message.url}?token=${token}`, { perMessageDeflate: false });
    sockets.push(ws);
    let done = false;
    const settle = (ok: boolean) => {
      if (done) return;
      done = true;
      if (ok) open++;
      else failed++;
      settled();
    };
    ws.once('open', () => settle(true));
    ws.once('unexpected-response', () => settle(false));
    ws.on('error', () => settle(false));
  }
});
