// The forge's "web-flow" key: GitHub signs the commits it makes (merges, and commits an App makes through the
// API) with an OpenPGP key of its own, and the REST API reports them as verified. The forge does the same
// with an Ed25519 key made when it starts, so that the audit's trust in Timebox's merges (docs/audit.md) is
// tested against signed commits, as on GitHub. gpg imports and verifies what this writes
// (test/repo/openpgp.test.ts).
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import {
  ALGO,
  armor,
  ED25519_OID,
  fingerprintOf,
  HASH_SHA256,
  hashedTrailer,
  mpi,
  packet,
  subpacket,
  u16,
  u32,
} from '../repo/openpgp.js';

export const WEB_FLOW_UID = 'GitHub (web-flow commit signing) <noreply@github.com>';

export interface WebFlowKey {
  /** Upper-case hex v4 fingerprint. */
  fingerprint: string;
  /** The public key, armored (what https://github.com/web-flow.gpg serves). */
  publicKey: string;
  /** An armored detached signature of `data` (a commit object without its `gpgsig` header). */
  sign(data: Buffer, at: Date): string;
}

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

export function createWebFlowKey(created: Date): WebFlowKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(String(publicKey.export({ format: 'jwk' }).x), 'base64url');
  const keyBody = Buffer.concat([
    Buffer.from([4]),
    u32(seconds(created)),
    Buffer.from([ALGO.eddsaLegacy, ED25519_OID.length]),
    ED25519_OID,
    mpi(Buffer.concat([Buffer.from([0x40]), raw])),
  ]);
  const fingerprint = fingerprintOf(keyBody);
  const fpr = Buffer.from(fingerprint, 'hex');
  const keyId = fpr.subarray(-8);

  const signature = (type: number, prefix: Buffer, at: Date, extra: Buffer[] = []): Buffer => {
    const hashed = Buffer.concat([
      subpacket(2, u32(seconds(at))),
      ...extra,
      subpacket(33, Buffer.concat([Buffer.from([4]), fpr])),
    ]);
    const hashedPart = Buffer.concat([
      Buffer.from([4, type, ALGO.eddsaLegacy, HASH_SHA256]),
      u16(hashed.length),
      hashed,
    ]);
    const digest = createHash('sha256')
      .update(Buffer.concat([prefix, hashedTrailer(hashedPart)]))
      .digest();
    const sig = sign(null, digest, privateKey as KeyObject);
    const unhashed = subpacket(16, keyId);
    return Buffer.concat([
      hashedPart,
      u16(unhashed.length),
      unhashed,
      digest.subarray(0, 2),
      mpi(sig.subarray(0, 32)),
      mpi(sig.subarray(32, 64)),
    ]);
  };

  // The user ID, certified by the key itself (type 0x13), so that gpg accepts the key on import.
  const uid = Buffer.from(WEB_FLOW_UID, 'utf8');
  const certified = Buffer.concat([
    Buffer.from([0x99]),
    u16(keyBody.length),
    keyBody,
    Buffer.from([0xb4]),
    u32(uid.length),
    uid,
  ]);
  const selfSig = signature(0x13, certified, created, [
    subpacket(27, Buffer.from([0x03])), // certify and sign
    subpacket(21, Buffer.from([HASH_SHA256])),
  ]);
  const block = Buffer.concat([packet(6, keyBody), packet(13, uid), packet(2, selfSig)]);

  return {
    fingerprint,
    publicKey: armor('PUBLIC KEY BLOCK', block),
    sign: (data, at) => armor('SIGNATURE', packet(2, signature(0x00, data, at))),
  };
}
