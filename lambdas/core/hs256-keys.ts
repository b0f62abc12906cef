import type { CryptoKey } from 'jose';

/** One version of the HS256 key. */
export interface Hs256KeyVersion {
  /**
   * What a token's `kid` header names: the Secrets Manager `VersionId` of the key that signed
   * it. Undefined for an inline key (`JWT_SECRET`), which has no versions.
   */
  versionId?: string;
  bytes: Uint8Array;
}

/** What one read of the key store yields: `AWSCURRENT`, and `AWSPREVIOUS` when there is one. */
export interface Hs256KeySet {
  current: Hs256KeyVersion & {
    /** When the current version was created, epoch ms: the previous one's grace counts from it. */
    createdAt?: number;
  };
  previous?: Hs256KeyVersion;
}

/** How a {@link Hs256KeyRing} reads and keeps its keys. */
export interface Hs256KeyRingOptions {
  /** Reads the key set (Secrets Manager, or the inline secret). */
  load(): Promise<Hs256KeySet>;
  /** Keys read longer ago than this are read again before use. */
  maxAgeMs: number;
  /** An early read ({@link Hs256KeyRing.refresh}) happens at most once in this interval. */
  minRefreshIntervalMs: number;
  /**
   * How long after the current version was created the previous one is still accepted: long
   * enough for every token it signed before the rotation to expire, and no longer, so that a
   * leaked key stops working once that window has passed.
   */
  previousKeyGraceMs: number;
  /** Epoch milliseconds. */
  now(): number;
}

/** A key a token may be checked against now. */
export interface Hs256Key {
  versionId?: string;
  stage: 'current' | 'previous';
  key: CryptoKey;
}

interface Loaded {
  /** When the read that produced these keys started. */
  at: number;
  current: Hs256Key;
  previous?: Hs256Key;
  /** Until when (epoch ms) `previous` is accepted. */
  previousUntil: number;
}

/**
 * The authorizer's HS256 keys, read with a time limit and imported once per read (jose would
 * otherwise import raw bytes on every verify). A failed read is not cached: the next token
 * tries again, and until a read succeeds no HS256 token is accepted (fail closed).
 *
 * @example
 * const ring = new Hs256KeyRing({ load, maxAgeMs: 300_000, minRefreshIntervalMs: 30_000,
 *   previousKeyGraceMs: 86_400_000, now: Date.now });
 * for (const { key } of await ring.keys()) { ... }
 */
export class Hs256KeyRing {
  private loaded: Loaded | undefined;
  private loading: Promise<void> | undefined;
  private lastLoadStartedAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: Hs256KeyRingOptions) {}

  /**
   * A ring over one key that never changes (an inline `JWT_SECRET`): read once, never again.
   *
   * @example
   * const ring = Hs256KeyRing.fixed(new TextEncoder().encode(process.env.JWT_SECRET));
   */
  static fixed(bytes: Uint8Array): Hs256KeyRing {
    return new Hs256KeyRing({
      load: async () => ({ current: { bytes } }),
      maxAgeMs: Number.POSITIVE_INFINITY,
      minRefreshIntervalMs: Number.POSITIVE_INFINITY,
      previousKeyGraceMs: 0,
      now: Date.now,
    });
  }

  /** The keys usable now, current first; reads them first when missing or too old. */
  async keys(): Promise<Hs256Key[]> {
    const loaded = this.loaded;
    if (loaded === undefined || this.options.now() - loaded.at >= this.options.maxAgeMs) {
      await this.load();
    }
    return this.usable(this.loaded as Loaded);
  }

  /**
   * Reads the keys again unless a read started less than `minRefreshIntervalMs` ago (one in
   * flight is joined). Resolves `true` when fresh keys are in place, `false` when rate-limited.
   */
  async refresh(): Promise<boolean> {
    if (this.loading) {
      await this.loading;
      return true;
    }
    if (this.options.now() - this.lastLoadStartedAt < this.options.minRefreshIntervalMs) {
      return false;
    }
    await this.load();
    return true;
  }

  private load(): Promise<void> {
    this.loading ??= (async () => {
      const at = this.options.now();
      this.lastLoadStartedAt = at;
      try {
        const set = await this.options.load();
        const [current, previous] = await Promise.all([
          importKey(set.current),
          set.previous ? importKey(set.previous) : undefined,
        ]);
        this.loaded = {
          at,
          current: { ...versionOf(set.current), stage: 'current', key: current },
          ...(set.previous &&
            previous && {
              previous: { ...versionOf(set.previous), stage: 'previous', key: previous },
            }),
          // Without a creation date there is no window to measure: the previous key is refused.
          previousUntil:
            set.current.createdAt === undefined
              ? Number.NEGATIVE_INFINITY
              : set.current.createdAt + this.options.previousKeyGraceMs,
        };
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  private usable(loaded: Loaded): Hs256Key[] {
    const keys = [loaded.current];
    if (loaded.previous && this.options.now() <= loaded.previousUntil) keys.push(loaded.previous);
    return keys;
  }
}

function versionOf(version: Hs256KeyVersion): { versionId?: string } {
  return version.versionId === undefined ? {} : { versionId: version.versionId };
}

function importKey(version: Hs256KeyVersion): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    'raw',
    version.bytes as Uint8Array<ArrayBuffer>,
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['verify'],
  );
}
