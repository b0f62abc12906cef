// Type-level check, compiled by client/tsconfig.json only: the browser's WebSocket class is one
// the client accepts, as `ws`'s is (test/integration/client passes that one).
import type { WebSocketConstructor } from './src/index';

export const browserWebSocket: WebSocketConstructor = WebSocket;
