// SSH private key files, read so that `openWith` can act as age's ssh-ed25519 / ssh-rsa identity:
// the OpenSSH format (`-----BEGIN OPENSSH PRIVATE KEY-----`, PROTOCOL.key) for ed25519 and RSA, and the
// PEM formats Node reads itself (`RSA PRIVATE KEY`, `PRIVATE KEY`). Unencrypted keys only: a key with a
// passphrase is refused with a pointer to `age -d -i`, which prompts for it.
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { CredsError } from './errors.js';
import {
  type DecodedSshKey,
  decodeSshPublicKeyBlob,
  encodeSshPublicKeyBlob,
  sshFingerprint,
} from './ssh-keys.js';
import {
  base64url,
  bigintFromBytes,
  bytesEqual,
  bytesFromBigint,
  decodeBase64,
  SshReader,
  WireError,
} from './wire.js';

interface SshPrivateKeyBase {
  /** Canonical wire-format public key: what the age stanza tag is computed from. */
  publicBlob: Uint8Array;
  fingerprint: string;
  comment: string;
}

export interface SshEd25519PrivateKey extends SshPrivateKeyBase {
  type: 'ssh-ed25519';
  /** The 32-byte Ed25519 seed (RFC 8032 private key). */
  seed: Uint8Array;
  publicKey: Uint8Array;
}

export interface SshRsaPrivateKey extends SshPrivateKeyBase {
  type: 'ssh-rsa';
  privateKey: KeyObject;
}

export type SshPrivateKey = SshEd25519PrivateKey | SshRsaPrivateKey;

const MAGIC = new TextEncoder().encode('openssh-key-v1\0');
const PEM = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)\r?\n?-----END \1-----/;

const bad = (message: string) => new CredsError('bad-private-key', message);
const passphraseProtected = () =>
  new CredsError(
    'passphrase-protected',
    'the SSH private key is protected by a passphrase, and timebox does not ask for passphrases; ' +
      'decrypt with age instead, which prompts for it: age -d -i ~/.ssh/id_ed25519 FILE ' +
      '(use your private key file in place of ~/.ssh/id_ed25519)',
  );

/** Reads an SSH private key file's text. Throws `CredsError` with a message that says what to do instead. */
export function parseSshPrivateKey(text: string): SshPrivateKey {
  if (typeof text !== 'string' || text.trim() === '') throw bad('the private key file is empty');
  const trimmed = text.trim();
  if (trimmed.startsWith('AGE-SECRET-KEY-'))
    throw bad('this is a native age identity, not an SSH private key; use age -d -i with it');
  if (/^(?:ssh-|ecdsa-|sk-)/.test(trimmed))
    throw bad(
      'this is an SSH public key; give the private key file (for example ~/.ssh/id_ed25519, not the .pub file)',
    );
  const pem = PEM.exec(trimmed);
  if (!pem) throw bad('this is not an SSH private key file (no -----BEGIN … PRIVATE KEY----- block)');
  const label = pem[1] ?? '';
  const body = pem[2] ?? '';
  switch (label) {
    case 'OPENSSH PRIVATE KEY':
      return parseOpenSsh(body);
    case 'ENCRYPTED PRIVATE KEY':
      throw passphraseProtected();
    case 'RSA PRIVATE KEY':
    case 'PRIVATE KEY':
      if (/^Proc-Type:\s*4,ENCRYPTED/m.test(body)) throw passphraseProtected();
      return parseNodePem(pem[0]);
    case 'EC PRIVATE KEY':
    case 'DSA PRIVATE KEY':
      throw bad(`unsupported private key type (${label}): age can decrypt with ssh-ed25519 and ssh-rsa keys`);
    default:
      throw bad(`this is not an SSH private key (found a ${label} block)`);
  }
}

function parseOpenSsh(body: string): SshPrivateKey {
  const bytes = decodeBase64(body.replace(/[ \t\r\n]/g, ''), true);
  if (!bytes) throw bad('the OpenSSH private key is not valid base64 (truncated or altered?)');
  if (!bytesEqual(bytes.subarray(0, MAGIC.length), MAGIC))
    throw bad('the OpenSSH private key does not start with openssh-key-v1');
  try {
    const r = new SshReader(bytes.subarray(MAGIC.length));
    const cipher = r.name('the cipher name');
    const kdf = r.name('the KDF name');
    r.string('the KDF options');
    const count = r.uint32('the number of keys');
    const publicBlob = r.string('the public key');
    const privateBlock = r.string('the private section');
    r.end('the private section');
    if (cipher !== 'none' || kdf !== 'none') throw passphraseProtected();
    if (count !== 1) throw bad(`the private key file holds ${count} keys; exactly one is supported`);
    const publicType = new SshReader(publicBlob).name('the public key type');
    if (publicType !== 'ssh-ed25519' && publicType !== 'ssh-rsa')
      throw bad(
        `unsupported private key type ${publicType}: age can decrypt with ssh-ed25519 and ssh-rsa keys`,
      );
    const pub = decodeSshPublicKeyBlob(publicBlob);
    if (!pub.ok) throw bad(`the private key's public part is not usable: ${pub.message}`);
    if (privateBlock.length % 8 !== 0) throw bad('the private section is not padded to 8 bytes');

    const p = new SshReader(privateBlock);
    const check1 = p.uint32('the check integer');
    const check2 = p.uint32('the second check integer');
    if (check1 !== check2) throw bad('the private key is corrupted (check integers differ)');
    const type = p.name('the private key type');
    if (type !== pub.key.type)
      throw bad(`the private key is ${type}, but its public part is ${pub.key.type}`);

    if (pub.key.type === 'ssh-ed25519') {
      const publicKey = p.string('the ed25519 public key');
      const secret = p.string('the ed25519 private key');
      const comment = readComment(p);
      if (secret.length !== 64) throw bad(`the ed25519 private key is ${secret.length} bytes; it must be 64`);
      const seed = secret.slice(0, 32);
      if (
        !bytesEqual(publicKey, pub.key.publicKey) ||
        !bytesEqual(secret.subarray(32), publicKey) ||
        !bytesEqual(ed25519.getPublicKey(seed), publicKey)
      )
        throw bad('the ed25519 private key does not match its public key');
      return ed25519Key(pub.key, seed, comment);
    }

    const n = p.mpint('the RSA modulus');
    const e = p.mpint('the RSA exponent');
    const d = p.mpint('the RSA private exponent');
    const iqmp = p.mpint('the RSA CRT coefficient');
    const prime1 = p.mpint('the RSA prime p');
    const prime2 = p.mpint('the RSA prime q');
    const comment = readComment(p);
    if (!bytesEqual(n, pub.key.n) || !bytesEqual(e, pub.key.e))
      throw bad('the RSA private key does not match its public key');
    return rsaKey(pub.key, { n, e, d, p: prime1, q: prime2, qi: iqmp }, comment);
  } catch (err) {
    if (err instanceof WireError) throw bad(`the OpenSSH private key is malformed: ${err.message}`);
    throw err;
  }
}

/** The comment, then padding 1, 2, 3, … to the block size (PROTOCOL.key). */
function readComment(r: SshReader): string {
  const comment = new TextDecoder().decode(r.string('the comment'));
  const pad = r.rest();
  if (pad.length >= 8 || pad.some((b, i) => b !== i + 1))
    throw bad('the private section has invalid padding');
  return comment;
}

function ed25519Key(key: Extract<DecodedSshKey, { type: 'ssh-ed25519' }>, seed: Uint8Array, comment: string) {
  const publicBlob = encodeSshPublicKeyBlob(key);
  const out: SshEd25519PrivateKey = {
    type: 'ssh-ed25519',
    seed,
    publicKey: key.publicKey,
    publicBlob,
    fingerprint: sshFingerprint(publicBlob),
    comment,
  };
  return out;
}

interface RsaParts {
  n: Uint8Array;
  e: Uint8Array;
  d: Uint8Array;
  p: Uint8Array;
  q: Uint8Array;
  qi: Uint8Array;
}

function rsaKey(key: Extract<DecodedSshKey, { type: 'ssh-rsa' }>, parts: RsaParts, comment: string) {
  // OpenSSH stores n, e, d, q⁻¹ mod p, p, q; a KeyObject also wants d mod (p-1) and d mod (q-1).
  const [n, d, p, q, qi] = [parts.n, parts.d, parts.p, parts.q, parts.qi].map(bigintFromBytes) as [
    bigint,
    bigint,
    bigint,
    bigint,
    bigint,
  ];
  if (p < 3n || q < 3n || p * q !== n || (qi * q) % p !== 1n)
    throw bad('the RSA private key is inconsistent (its primes do not match its modulus)');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({
      format: 'jwk',
      key: {
        kty: 'RSA',
        n: base64url(parts.n),
        e: base64url(parts.e),
        d: base64url(parts.d),
        p: base64url(parts.p),
        q: base64url(parts.q),
        dp: base64url(bytesFromBigint(d % (p - 1n))),
        dq: base64url(bytesFromBigint(d % (q - 1n))),
        qi: base64url(parts.qi),
      },
    });
  } catch (err) {
    throw bad(`the RSA private key cannot be loaded: ${(err as Error).message}`);
  }
  const publicBlob = encodeSshPublicKeyBlob(key);
  const out: SshRsaPrivateKey = {
    type: 'ssh-rsa',
    privateKey,
    publicBlob,
    fingerprint: sshFingerprint(publicBlob),
    comment,
  };
  return out;
}

/** `RSA PRIVATE KEY` (PKCS#1) and `PRIVATE KEY` (PKCS#8) PEM, as `ssh-keygen -m PEM` writes them. */
function parseNodePem(pem: string): SshPrivateKey {
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    const message = (err as Error).message;
    if (/passphrase/i.test(message)) throw passphraseProtected();
    throw bad(`the PEM private key cannot be read: ${message}`);
  }
  const jwk = keyObject.export({ format: 'jwk' });
  const fromB64url = (s: string | undefined) => new Uint8Array(Buffer.from(s ?? '', 'base64url'));
  if (keyObject.asymmetricKeyType === 'rsa') {
    const pub: DecodedSshKey = { type: 'ssh-rsa', e: trim(fromB64url(jwk.e)), n: trim(fromB64url(jwk.n)) };
    const checked = decodeSshPublicKeyBlob(encodeSshPublicKeyBlob(pub));
    if (!checked.ok) throw bad(`the RSA private key is not usable: ${checked.message}`);
    const publicBlob = encodeSshPublicKeyBlob(pub);
    const out: SshRsaPrivateKey = {
      type: 'ssh-rsa',
      privateKey: keyObject,
      publicBlob,
      fingerprint: sshFingerprint(publicBlob),
      comment: '',
    };
    return out;
  }
  if (keyObject.asymmetricKeyType === 'ed25519') {
    const seed = fromB64url(jwk.d);
    const publicKey = fromB64url(jwk.x);
    if (seed.length !== 32 || !bytesEqual(ed25519.getPublicKey(seed), publicKey))
      throw bad('the ed25519 private key is inconsistent');
    return ed25519Key({ type: 'ssh-ed25519', publicKey }, seed, '');
  }
  throw bad(
    `unsupported private key type (${keyObject.asymmetricKeyType ?? 'unknown'}): age can decrypt with ssh-ed25519 and ssh-rsa keys`,
  );
}

function trim(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
}
