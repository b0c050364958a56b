// Byte-level helpers for SSH wire formats (RFC 4251 §5) and the strict base64 that age and OpenSSH use.
// Encoding only: no cryptography here.

/** Thrown by `SshReader` on any malformed or truncated field; callers turn it into a clear message. */
export class WireError extends Error {
  override name = 'WireError';
}

const BASE64_CHARS = /^[A-Za-z0-9+/]*$/;

/**
 * Standard base64 (RFC 4648 §4). `padded`: `=` padding required (OpenSSH key lines and PEM bodies);
 * otherwise it is forbidden (age stanza arguments). Non-canonical encodings are refused: the text must
 * be exactly what re-encoding the decoded bytes gives. Returns undefined when the text is not valid.
 */
export function decodeBase64(text: string, padded: boolean): Uint8Array | undefined {
  const body = padded ? text.replace(/={1,2}$/, '') : text;
  if (!BASE64_CHARS.test(body) || body.length % 4 === 1) return undefined;
  if (padded && text.length % 4 !== 0) return undefined;
  const bytes = new Uint8Array(Buffer.from(body, 'base64'));
  return encodeBase64(bytes, padded) === text ? bytes : undefined;
}

export function encodeBase64(bytes: Uint8Array, padded: boolean): string {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  return padded ? text : text.replace(/=+$/, '');
}

/** `base64url` without padding, as JWK wants for big-endian integers. */
export function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** An SSH `string`: uint32 big-endian length, then the bytes. */
export function sshString(bytes: Uint8Array | string): Uint8Array {
  const body = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/** Unsigned big-endian magnitude → canonical SSH `mpint` (minimal, a 0x00 prefix when the top bit is set). */
export function sshMpint(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  const needsZero = trimmed.length > 0 && ((trimmed[0] ?? 0) & 0x80) !== 0;
  return sshString(needsZero ? concat(new Uint8Array([0]), trimmed) : trimmed);
}

export function bigintFromBytes(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}

export function bytesFromBigint(n: bigint): Uint8Array {
  if (n < 0n) throw new RangeError('negative');
  let hex = n.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

export function bitLength(magnitude: Uint8Array): number {
  let start = 0;
  while (start < magnitude.length && magnitude[start] === 0) start++;
  const top = magnitude[start];
  if (top === undefined) return 0;
  return (magnitude.length - start - 1) * 8 + (32 - Math.clz32(top));
}

/** Sequential reader over SSH wire data; every method throws `WireError` instead of reading past the end. */
export class SshReader {
  private at = 0;
  constructor(private readonly bytes: Uint8Array) {}

  get remaining(): number {
    return this.bytes.length - this.at;
  }

  uint32(what: string): number {
    if (this.remaining < 4) throw new WireError(`truncated before ${what}`);
    const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.at, 4).getUint32(0);
    this.at += 4;
    return v;
  }

  raw(length: number, what: string): Uint8Array {
    if (this.remaining < length) throw new WireError(`truncated inside ${what}`);
    const out = this.bytes.subarray(this.at, this.at + length);
    this.at += length;
    return out;
  }

  string(what: string): Uint8Array {
    const length = this.uint32(`the length of ${what}`);
    if (length > this.remaining)
      throw new WireError(`${what} claims ${length} bytes but only ${this.remaining} remain`);
    return this.raw(length, what);
  }

  /** A printable-ASCII name (key types, cipher names); anything else is refused. */
  name(what: string, maxLength = 64): string {
    const bytes = this.string(what);
    if (bytes.length === 0 || bytes.length > maxLength || bytes.some((b) => b < 0x21 || b > 0x7e))
      throw new WireError(`${what} is not a printable name`);
    return new TextDecoder().decode(bytes);
  }

  /** A non-negative, canonically encoded `mpint`; returns its unsigned big-endian magnitude. */
  mpint(what: string): Uint8Array {
    const bytes = this.string(what);
    const first = bytes[0];
    if (first === undefined) return bytes;
    if (first & 0x80) throw new WireError(`${what} is negative`);
    if (first === 0) {
      const second = bytes[1];
      if (second === undefined || (second & 0x80) === 0)
        throw new WireError(`${what} has a superfluous leading zero byte`);
      return bytes.subarray(1);
    }
    return bytes;
  }

  rest(): Uint8Array {
    const out = this.bytes.subarray(this.at);
    this.at = this.bytes.length;
    return out;
  }

  end(what: string): void {
    if (this.remaining !== 0)
      throw new WireError(`${this.remaining} unexpected trailing byte(s) after ${what}`);
  }
}
