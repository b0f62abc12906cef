/**
 * Watches the raw bytes a client sends for a data frame larger than API Gateway's 32 KiB frame
 * limit. The `ws` library only limits whole messages (its `maxPayload`, set to the 128 KiB
 * message limit), while API Gateway also closes a connection with 1009 on a single oversized
 * frame, even inside a message that would fit. This reads frame headers only (RFC 6455 §5.2)
 * and skips payloads, so it costs next to nothing.
 *
 * @example
 * const guard = new FrameGuard(32 * 1024);
 * socket.prependListener('data', (chunk) => {
 *   const violation = guard.push(chunk);
 *   if (violation) ws.close(1009);
 * });
 */
export class FrameGuard {
  private header = Buffer.alloc(0);
  private payloadLeft = 0;
  private completedMessages = 0;
  private violation: FrameViolation | undefined;

  constructor(private readonly maxFrameBytes: number) {}

  /** The first oversized frame, once seen. */
  get violated(): FrameViolation | undefined {
    return this.violation;
  }

  /** Feeds a chunk read from the socket; returns the violation when this chunk revealed it. */
  push(chunk: Buffer): FrameViolation | undefined {
    if (this.violation) return undefined;
    let offset = 0;
    while (offset < chunk.length) {
      if (this.payloadLeft > 0) {
        const skip = Math.min(this.payloadLeft, chunk.length - offset);
        this.payloadLeft -= skip;
        offset += skip;
        continue;
      }
      const buffered = this.header.length;
      const taken = chunk.subarray(offset, offset + 14 - buffered);
      this.header = Buffer.concat([this.header, taken]);
      const parsed = parseHeader(this.header);
      if (parsed === undefined) {
        // Incomplete header (split across reads): keep what we have for the next chunk.
        offset += taken.length;
        continue;
      }
      // Of the bytes taken, only the header's own were consumed; the rest is payload.
      offset += parsed.headerLength - buffered;
      this.header = Buffer.alloc(0);
      const isData = parsed.opcode <= 0x2;
      if (isData && parsed.payloadLength > this.maxFrameBytes) {
        this.violation = {
          frameBytes: parsed.payloadLength,
          messagesBefore: this.completedMessages,
        };
        return this.violation;
      }
      if (isData && parsed.fin) this.completedMessages++;
      this.payloadLeft = parsed.payloadLength;
    }
    return undefined;
  }
}

/** An oversized frame and how many whole messages preceded it (those are delivered). */
export interface FrameViolation {
  frameBytes: number;
  messagesBefore: number;
}

interface FrameHeader {
  fin: boolean;
  opcode: number;
  payloadLength: number;
  headerLength: number;
}

function parseHeader(bytes: Buffer): FrameHeader | undefined {
  if (bytes.length < 2) return undefined;
  const first = bytes[0] as number;
  const second = bytes[1] as number;
  const masked = (second & 0x80) !== 0;
  let length = second & 0x7f;
  let headerLength = 2;
  if (length === 126) {
    if (bytes.length < 4) return undefined;
    length = bytes.readUInt16BE(2);
    headerLength = 4;
  } else if (length === 127) {
    if (bytes.length < 10) return undefined;
    const big = bytes.readBigUInt64BE(2);
    length = big > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(big);
    headerLength = 10;
  }
  if (masked) headerLength += 4;
  if (bytes.length < headerLength) return undefined;
  return { fin: (first & 0x80) !== 0, opcode: first & 0x0f, payloadLength: length, headerLength };
}
