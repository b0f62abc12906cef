import type { LocalConnection } from './connection';

/**
 * The open sockets by connection id: what API Gateway knows as "connected". A connection is
 * added once its handshake completed (so it cannot be posted to during its own `$connect`, as
 * on AWS) and removed as soon as it starts closing (so a post to it answers 410 at once).
 *
 * @example
 * const registry = new ConnectionRegistry();
 * registry.add(connection);
 * registry.get('BFaT_fALIAMCKug=')?.post(Buffer.from('{"type":"hi"}'));
 */
export class ConnectionRegistry {
  private readonly connections = new Map<string, LocalConnection>();
  /** Every connection not yet through `$disconnect`, closing ones included. */
  private readonly unfinished = new Set<LocalConnection>();

  add(connection: LocalConnection): void {
    this.connections.set(connection.id, connection);
    this.unfinished.add(connection);
    void connection.finished.then(() => this.unfinished.delete(connection));
  }

  remove(connectionId: string): void {
    this.connections.delete(connectionId);
  }

  get(connectionId: string): LocalConnection | undefined {
    return this.connections.get(connectionId);
  }

  /** Open connections. */
  get size(): number {
    return this.connections.size;
  }

  /** Open connections, for closing them all. */
  open(): LocalConnection[] {
    return [...this.connections.values()];
  }

  /** Connections not yet through `$disconnect`, closing ones included. */
  unfinishedConnections(): LocalConnection[] {
    return [...this.unfinished];
  }

  /** Resolves when every connection ever added has run `$disconnect`. */
  async drained(): Promise<void> {
    await Promise.all([...this.unfinished].map((c) => c.finished));
  }
}
