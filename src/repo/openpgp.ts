// Just enough OpenPGP (RFC 4880, v4 packets) to check the signature GitHub puts on the commits it makes
// (its "web-flow" key signs merges and commits made through the API), in process: no gpg, no keyring, no
// process per commit. Keys: RSA and Ed25519 (legacy EdDSA and RFC 9580's). Hashes: SHA-224/256/384/512;
// SHA-1 signatures are refused. Every key in the given key files is trusted as it is: expiry, revocation
// and subkey bindings are not evaluated (the files are the trust decision; docs/audit.md).
import {
  createHash,
  createPublicKey,
  constants as cryptoConstants,
  type KeyObject,
  verify,
} from 'node:crypto';

export class OpenPgpError extends Error {}

export interface PublicKey {
  /** Upper-case hex v4 fingerprint. */
  fingerprint: string;
  /** Last 8 bytes of the fingerprint, upper-case hex. */
  keyId: string;
  algorithm: 'rsa' | 'ed25519';
  key: KeyObject;
}

export type SignatureCheck =
  | { status: 'valid'; signer: string }
  /** No signature on the commit. */
  | { status: 'none' }
  /** Signed, but by no key in the trusted set (or in a form this module does not read). */
  | { status: 'untrusted'; detail: string }
  /** Signed by a trusted key's id, but the signature does not verify: the commit was changed. */
  | { status: 'bad'; detail: string };

// ---- packets ------------------------------------------------------------------------------------------------

export const ED25519_OID = Buffer.from([0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x0f, 0x01]);
export const ALGO = { rsa: 1, rsaSign: 3, eddsaLegacy: 22, ed25519: 27 } as const;
const HASHES: Record<number, string> = { 8: 'sha256', 9: 'sha384', 10: 'sha512', 11: 'sha224' };
export const HASH_SHA256 = 8;
/** Hashed subpackets a signature may mark critical and still be understood here. */
const KNOWN_SUBPACKETS = new Set([2, 3, 9, 11, 16, 21, 22, 23, 25, 27, 28, 30, 33]);

interface Packet {
  tag: number;
  body: Buffer;
}

function packets(data: Buffer): Packet[] {
  const out: Packet[] = [];
  let i = 0;
  while (i < data.length) {
    const first = data[i] as number;
    if ((first & 0x80) === 0) throw new OpenPgpError('not an OpenPGP packet');
    let tag: number;
    let len: number;
    let start: number;
    if (first & 0x40) {
      tag = first & 0x3f;
      const o = data[i + 1];
      if (o === undefined) throw new OpenPgpError('truncated packet');
      if (o < 192) {
        len = o;
        start = i + 2;
      } else if (o < 224) {
        len = ((o - 192) << 8) + (data[i + 2] ?? 0) + 192;
        start = i + 3;
      } else if (o === 255) {
        len = data.readUInt32BE(i + 2);
        start = i + 6;
      } else throw new OpenPgpError('partial-length packets are not used in keys or signatures');
    } else {
      tag = (first >> 2) & 0x0f;
      const type = first & 3;
      if (type === 0) {
        len = data[i + 1] ?? 0;
        start = i + 2;
      } else if (type === 1) {
        len = data.readUInt16BE(i + 1);
        start = i + 3;
      } else if (type === 2) {
        len = data.readUInt32BE(i + 1);
        start = i + 5;
      } else {
        len = data.length - (i + 1);
        start = i + 1;
      }
    }
    if (start + len > data.length) throw new OpenPgpError('truncated packet');
    out.push({ tag, body: data.subarray(start, start + len) });
    i = start + len;
  }
  return out;
}

/** A packet in the new format. */
export function packet(tag: number, body: Buffer): Buffer {
  let head: Buffer;
  if (body.length < 192) head = Buffer.from([0xc0 | tag, body.length]);
  else if (body.length < 8384) {
    const n = body.length - 192;
    head = Buffer.from([0xc0 | tag, (n >> 8) + 192, n & 0xff]);
  } else {
    head = Buffer.alloc(6);
    head[0] = 0xc0 | tag;
    head[1] = 255;
    head.writeUInt32BE(body.length, 2);
  }
  return Buffer.concat([head, body]);
}

/** A multiprecision integer: bit count, then the big-endian bytes without leading zeros. */
export function mpi(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const v = bytes.subarray(i);
  const top = v[0] ?? 0;
  const bits = top === 0 ? 0 : (v.length - 1) * 8 + (32 - Math.clz32(top));
  const head = Buffer.alloc(2);
  head.writeUInt16BE(bits);
  return Buffer.concat([head, v]);
}

function readMpi(buf: Buffer, at: number): { value: Buffer; next: number } {
  if (at + 2 > buf.length) throw new OpenPgpError('truncated integer');
  const bytes = (buf.readUInt16BE(at) + 7) >> 3;
  const next = at + 2 + bytes;
  if (next > buf.length) throw new OpenPgpError('truncated integer');
  return { value: buf.subarray(at + 2, next), next };
}

/** A signature subpacket (type and data). */
export function subpacket(type: number, data: Buffer): Buffer {
  const n = data.length + 1;
  const len =
    n < 192
      ? Buffer.from([n])
      : n < 8384
        ? Buffer.from([((n - 192) >> 8) + 192, (n - 192) & 0xff])
        : Buffer.concat([Buffer.from([255]), u32(n)]);
  return Buffer.concat([len, Buffer.from([type]), data]);
}

function subpackets(area: Buffer): { type: number; critical: boolean; data: Buffer }[] {
  const out: { type: number; critical: boolean; data: Buffer }[] = [];
  let i = 0;
  while (i < area.length) {
    const o = area[i] as number;
    let len: number;
    if (o < 192) {
      len = o;
      i += 1;
    } else if (o < 255) {
      len = ((o - 192) << 8) + (area[i + 1] ?? 0) + 192;
      i += 2;
    } else {
      len = area.readUInt32BE(i + 1);
      i += 5;
    }
    if (len < 1 || i + len > area.length) throw new OpenPgpError('malformed signature subpacket');
    const type = area[i] as number;
    out.push({ type: type & 0x7f, critical: (type & 0x80) !== 0, data: area.subarray(i + 1, i + len) });
    i += len;
  }
  return out;
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** The v4 fingerprint of a public key packet body. */
export function fingerprintOf(keyBody: Buffer): string {
  return createHash('sha1')
    .update(Buffer.concat([Buffer.from([0x99]), u16(keyBody.length), keyBody]))
    .digest('hex')
    .toUpperCase();
}

/** What a v4 signature hashes after the signed data: its hashed part and the final trailer. */
export function hashedTrailer(hashedPart: Buffer): Buffer {
  return Buffer.concat([hashedPart, Buffer.from([0x04, 0xff]), u32(hashedPart.length)]);
}

// ---- armor --------------------------------------------------------------------------------------------------

function crc24(data: Buffer): number {
  let crc = 0xb704ce;
  for (const byte of data) {
    crc ^= byte << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return crc & 0xffffff;
}

export function armor(type: 'PUBLIC KEY BLOCK' | 'SIGNATURE', data: Buffer): string {
  const b64 = data.toString('base64').replace(/.{1,64}/g, '$&\n');
  const crc = Buffer.from([(crc24(data) >> 16) & 0xff, (crc24(data) >> 8) & 0xff, crc24(data) & 0xff]);
  return `-----BEGIN PGP ${type}-----\n\n${b64}=${crc.toString('base64')}\n-----END PGP ${type}-----\n`;
}

/** The binary contents of each armored block of `type` in `text` (the checksum, when present, is checked). */
export function dearmor(text: string, type: 'PUBLIC KEY BLOCK' | 'SIGNATURE'): Buffer[] {
  const out: Buffer[] = [];
  const re = new RegExp(`-----BEGIN PGP ${type}-----\\r?\\n([\\s\\S]*?)-----END PGP ${type}-----`, 'g');
  for (const m of text.matchAll(re)) {
    const lines = (m[1] as string).split(/\r?\n/).map((l) => l.trim());
    let crc: string | undefined;
    const body: string[] = [];
    for (const line of lines) {
      if (line === '' || /^[A-Za-z][A-Za-z0-9-]*: /.test(line)) continue;
      if (/^=[A-Za-z0-9+/]{4}$/.test(line)) crc = line.slice(1);
      else body.push(line);
    }
    const data = Buffer.from(body.join(''), 'base64');
    if (crc !== undefined) {
      const want = Buffer.from(crc, 'base64');
      const got = crc24(data);
      if (want.length !== 3 || want.readUIntBE(0, 3) !== got)
        throw new OpenPgpError(`armor checksum mismatch in a PGP ${type}`);
    }
    out.push(data);
  }
  return out;
}

// ---- keys ---------------------------------------------------------------------------------------------------

function b64url(b: Buffer): string {
  return b.toString('base64url');
}

function keyFromPacket(body: Buffer): PublicKey | null {
  if (body[0] !== 4) return null;
  const algo = body[5];
  const fingerprint = fingerprintOf(body);
  const keyId = fingerprint.slice(-16);
  if (algo === ALGO.rsa || algo === ALGO.rsaSign) {
    const n = readMpi(body, 6);
    const e = readMpi(body, n.next);
    const key = createPublicKey({
      key: { kty: 'RSA', n: b64url(n.value), e: b64url(e.value) },
      format: 'jwk',
    });
    return { fingerprint, keyId, algorithm: 'rsa', key };
  }
  let raw: Buffer | undefined;
  if (algo === ALGO.eddsaLegacy) {
    const oidLen = body[6] ?? 0;
    const oid = body.subarray(7, 7 + oidLen);
    if (!oid.equals(ED25519_OID)) return null;
    const q = readMpi(body, 7 + oidLen).value;
    if (q.length !== 33 || q[0] !== 0x40) return null;
    raw = q.subarray(1);
  } else if (algo === ALGO.ed25519) {
    raw = body.subarray(6, 38);
    if (raw.length !== 32) return null;
  }
  if (!raw) return null;
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(raw) }, format: 'jwk' });
  return { fingerprint, keyId, algorithm: 'ed25519', key };
}

/**
 * Every RSA and Ed25519 key (primary keys and subkeys) in armored or binary key material. Keys of other
 * algorithms are skipped; text with no key at all is an error (a wrong file is better found than trusted
 * to say nothing).
 */
export function readPublicKeys(material: string | Buffer): PublicKey[] {
  const text = typeof material === 'string' ? material : material.toString('latin1');
  const blocks = text.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')
    ? dearmor(text, 'PUBLIC KEY BLOCK')
    : [typeof material === 'string' ? Buffer.from(material, 'latin1') : material];
  const keys: PublicKey[] = [];
  for (const block of blocks) {
    for (const p of packets(block)) {
      if (p.tag !== 6 && p.tag !== 14) continue;
      const k = keyFromPacket(p.body);
      if (k) keys.push(k);
    }
  }
  if (keys.length === 0) throw new OpenPgpError('no RSA or Ed25519 OpenPGP public key found');
  return keys;
}

// ---- signatures ---------------------------------------------------------------------------------------------

/** Checks an armored detached signature over `data` against `keys`. */
export function verifyDetached(data: Buffer, armored: string, keys: readonly PublicKey[]): SignatureCheck {
  let sigs: Packet[];
  try {
    sigs = dearmor(armored, 'SIGNATURE').flatMap((b) => packets(b).filter((p) => p.tag === 2));
  } catch (err) {
    return { status: 'untrusted', detail: `unreadable signature (${(err as Error).message})` };
  }
  if (sigs.length === 0) return { status: 'untrusted', detail: 'not an OpenPGP signature' };
  let last: SignatureCheck = { status: 'untrusted', detail: 'not an OpenPGP signature' };
  for (const sig of sigs) {
    const r = verifyOne(data, sig.body, keys);
    if (r.status === 'valid') return r;
    // A bad signature by a trusted key says more than an untrusted one.
    if (last.status !== 'bad') last = r;
  }
  return last;
}

function verifyOne(data: Buffer, body: Buffer, keys: readonly PublicKey[]): SignatureCheck {
  try {
    if (body[0] !== 4) return { status: 'untrusted', detail: `version ${body[0]} signature` };
    const type = body[1] as number;
    const algo = body[2] as number;
    const hashAlgo = body[3] as number;
    const hashedLen = body.readUInt16BE(4);
    const hashedEnd = 6 + hashedLen;
    const hashed = subpackets(body.subarray(6, hashedEnd));
    const unhashedLen = body.readUInt16BE(hashedEnd);
    const unhashed = subpackets(body.subarray(hashedEnd + 2, hashedEnd + 2 + unhashedLen));
    let at = hashedEnd + 2 + unhashedLen;
    const left16 = body.subarray(at, at + 2);
    at += 2;
    if (type !== 0x00 && type !== 0x01) return { status: 'untrusted', detail: `signature type ${type}` };
    const hashName = HASHES[hashAlgo];
    if (!hashName) return { status: 'untrusted', detail: `hash algorithm ${hashAlgo} is not accepted` };
    const critical = hashed.find((s) => s.critical && !KNOWN_SUBPACKETS.has(s.type));
    if (critical) return { status: 'untrusted', detail: `critical subpacket ${critical.type}` };

    const issuers = new Set<string>();
    for (const s of [...hashed, ...unhashed]) {
      if (s.type === 33 && s.data[0] === 4) issuers.add(s.data.subarray(1).toString('hex').toUpperCase());
      if (s.type === 16) issuers.add(s.data.toString('hex').toUpperCase());
    }
    const candidates = keys.filter(
      (k) => issuers.size === 0 || issuers.has(k.fingerprint) || issuers.has(k.keyId),
    );
    if (candidates.length === 0) {
      return { status: 'untrusted', detail: `signed by ${[...issuers].join(', ') || 'an unnamed key'}` };
    }
    const signed = Buffer.concat([
      type === 0x01 ? Buffer.from(data.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1') : data,
      hashedTrailer(body.subarray(0, hashedEnd)),
    ]);
    const digest = createHash(hashName).update(signed).digest();
    for (const k of candidates) {
      let ok = false;
      if (k.algorithm === 'rsa' && (algo === ALGO.rsa || algo === ALGO.rsaSign)) {
        const m = readMpi(body, at).value;
        const size = Math.ceil((k.key.asymmetricKeyDetails?.modulusLength ?? m.length * 8) / 8);
        const sig = Buffer.concat([Buffer.alloc(Math.max(0, size - m.length)), m]);
        ok = verify(hashName, signed, { key: k.key, padding: cryptoConstants.RSA_PKCS1_PADDING }, sig);
      } else if (k.algorithm === 'ed25519' && algo === ALGO.eddsaLegacy) {
        const r = readMpi(body, at);
        const s = readMpi(body, r.next);
        if (r.value.length > 32 || s.value.length > 32) continue;
        const sig = Buffer.concat([pad32(r.value), pad32(s.value)]);
        ok = verify(null, digest, k.key, sig);
      } else if (k.algorithm === 'ed25519' && algo === ALGO.ed25519) {
        ok = verify(null, digest, k.key, body.subarray(at, at + 64));
      } else continue;
      if (ok && left16.equals(digest.subarray(0, 2))) return { status: 'valid', signer: k.fingerprint };
    }
    return { status: 'bad', detail: `signature by ${candidates[0]?.fingerprint} does not verify` };
  } catch (err) {
    return { status: 'untrusted', detail: `unreadable signature (${(err as Error).message})` };
  }
}

function pad32(b: Buffer): Buffer {
  return Buffer.concat([Buffer.alloc(32 - b.length), b]);
}

// ---- commits ------------------------------------------------------------------------------------------------

/**
 * A raw commit object split into what was signed (the object without its `gpgsig` header) and the signature,
 * as `git verify-commit` does. Null when the commit carries no `gpgsig` header.
 */
export function splitSignedCommit(raw: Buffer): { payload: Buffer; signature: string } | null {
  const end = raw.indexOf('\n\n');
  const headerEnd = end < 0 ? raw.length : end + 1;
  const lines: Buffer[] = [];
  let signature: string[] | null = null;
  let inSig = false;
  let pos = 0;
  while (pos < headerEnd) {
    const nl = raw.indexOf(10, pos);
    const stop = nl < 0 || nl >= headerEnd ? headerEnd : nl + 1;
    const line = raw.subarray(pos, stop);
    pos = stop;
    if (inSig && line[0] === 0x20) {
      signature?.push(line.subarray(1).toString('latin1'));
      continue;
    }
    inSig = false;
    if (signature === null && line.subarray(0, 7).toString('latin1') === 'gpgsig ') {
      signature = [line.subarray(7).toString('latin1')];
      inSig = true;
      continue;
    }
    lines.push(line);
  }
  if (signature === null) return null;
  return { payload: Buffer.concat([...lines, raw.subarray(headerEnd)]), signature: signature.join('') };
}

/** `raw` (a commit object without a signature) with `armored` as its `gpgsig` header, where git puts it. */
export function addCommitSignature(raw: Buffer, armored: string): Buffer {
  const end = raw.indexOf('\n\n');
  const headers = raw.subarray(0, end < 0 ? raw.length : end + 1);
  const header = Buffer.from(`gpgsig ${armored.trimEnd().split('\n').join('\n ')}\n`, 'latin1');
  return Buffer.concat([headers, header, raw.subarray(headers.length)]);
}

/** The signature status of a raw commit object against `keys`. */
export function checkCommitSignature(raw: Buffer, keys: readonly PublicKey[]): SignatureCheck {
  const split = splitSignedCommit(raw);
  if (!split) return { status: 'none' };
  if (!split.signature.startsWith('-----BEGIN PGP SIGNATURE-----')) {
    const kind = /^-----BEGIN ([A-Z ]+)-----/.exec(split.signature)?.[1] ?? 'unknown';
    return { status: 'untrusted', detail: `${kind.toLowerCase()} (not OpenPGP)` };
  }
  return verifyDetached(split.payload, split.signature, keys);
}
