import type { Server } from 'node:net';

/**
 * A port that could not be bound because something else holds it.
 *
 * @example
 * new PortInUseError(3001, 'PORT').message;
 * // 'port 3001 is already in use; set PORT to another port (e.g. PORT=3002)'
 */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';

  constructor(
    readonly port: number,
    /** The environment variable that moves this server to another port. */
    readonly variable: string,
    options?: ErrorOptions,
  ) {
    super(
      `port ${port} is already in use; set ${variable} to another port (e.g. ${variable}=${port + 1})`,
      options,
    );
  }
}

/**
 * Listens, turning EADDRINUSE into a `PortInUseError` that names the variable to change.
 *
 * @example
 * await listen(server, 3001, '127.0.0.1', 'PORT');
 */
export function listen(
  server: Server,
  port: number,
  host: string,
  variable: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(
        error.code === 'EADDRINUSE' ? new PortInUseError(port, variable, { cause: error }) : error,
      );
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}
