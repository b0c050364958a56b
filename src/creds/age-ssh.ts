// age's `ssh-ed25519` and `ssh-rsa` recipient types (age-encryption.org/v1), as the reference Go
// implementation (filippo.io/age/agessh) defines them, on typage's Recipient / Identity interfaces.
// The primitives all come from @noble and node:crypto; this file only wires them together:
//
//   tag        = base64(SHA-256(ssh wire-format public key)[:4])               (no padding; both types)
//
//   ssh-rsa:     -> ssh-rsa TAG
//                body = RSA-OAEP(SHA-256, MGF1-SHA-256, label "age-encryption.org/v1/ssh-rsa", file key)
//
//   ssh-ed25519: -> ssh-ed25519 TAG base64(ephemeral share)
//                pk      = Montgomery u of the Ed25519 public key (the birational map)
//                share   = X25519(ephemeral, basepoint)
//                tweak   = HKDF-SHA-256(ikm = empty, salt = ssh wire key, info = LABEL)   (32 bytes)
//                secret  = X25519(tweak, X25519(ephemeral, pk))
//                key     = HKDF-SHA-256(ikm = secret, salt = share || pk, info = LABEL)
//                body    = ChaCha20-Poly1305(key, nonce = 12 zero bytes, file key)
//                LABEL   = "age-encryption.org/v1/ssh-ed25519" (for both HKDFs; not the X25519 label)
//
//   The identity's X25519 scalar is SHA-512(Ed25519 seed)[:32] (clamped by X25519), its public pk the same u.
//   Note the salt holds the *untweaked* pk; the 2019 draft spec text read otherwise, and agessh is what age does.
import {
  constants,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
} from 'node:crypto';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { type Identity, type Recipient, Stanza } from 'age-encryption';
import { CredsError } from './errors.js';
import { decodeSshPublicKeyBlob, type SshPublicKey } from './ssh-keys.js';
import type { SshPrivateKey } from './ssh-private-key.js';
import { base64url, bytesEqual, concat, decodeBase64, encodeBase64 } from './wire.js';

export const ED25519_LABEL = 'age-encryption.org/v1/ssh-ed25519';
export const RSA_OAEP_LABEL = 'age-encryption.org/v1/ssh-rsa';
const FILE_KEY_SIZE = 16;

const utf8 = (s: string) => new TextEncoder().encode(s);
const zeroNonce = () => new Uint8Array(12);

/** The stanza argument after the type: the first 4 bytes of SHA-256 of the wire-format key, unpadded base64. */
export function sshTag(blob: Uint8Array): string {
  return encodeBase64(sha256(blob).subarray(0, 4), false);
}

/**
 * The tweak: HKDF-SHA-256 with an EMPTY input key and the wire-format SSH key as the SALT (agessh calls
 * `hkdf.New(sha256.New, nil, sshKey.Marshal(), label)`, whose arguments are secret, salt, info), 32 bytes.
 */
function tweakFor(blob: Uint8Array): Uint8Array {
  return hkdf(sha256, new Uint8Array(0), blob, utf8(ED25519_LABEL), 32);
}

function wrapKey(sharedSecret: Uint8Array, share: Uint8Array, recipientU: Uint8Array): Uint8Array {
  return hkdf(sha256, sharedSecret, concat(share, recipientU), utf8(ED25519_LABEL), 32);
}

function rsaPublicKeyObject(e: Uint8Array, n: Uint8Array): KeyObject {
  return createPublicKey({ format: 'jwk', key: { kty: 'RSA', n: base64url(n), e: base64url(e) } });
}

/**
 * Recipients already built, by key: building one costs two curve operations (ed25519 → X25519 and the tweak's
 * public point), about as much as the seal itself, and `apply` seals many grants to the same few keys. A
 * recipient holds only public values and is used read-only, so sharing one is safe. Bounded: the oldest
 * entry goes first.
 */
const recipients = new Map<string, Recipient>();
const MAX_RECIPIENTS = 1024;

/** A recipient for an already-validated SSH public key; the blob is re-validated here all the same. */
export function sshRecipient(key: SshPublicKey): Recipient {
  const id = `${key.type} ${Buffer.from(key.blob).toString('base64')}`;
  const known = recipients.get(id);
  if (known) return known;
  const made = buildRecipient(key);
  if (recipients.size >= MAX_RECIPIENTS) {
    const oldest = recipients.keys().next().value;
    if (oldest !== undefined) recipients.delete(oldest);
  }
  recipients.set(id, made);
  return made;
}

function buildRecipient(key: SshPublicKey): Recipient {
  const decoded = decodeSshPublicKeyBlob(key.blob, key.type);
  if (!decoded.ok) throw new Error(`cannot encrypt to ${key.fingerprint}: ${decoded.message}`);
  const tag = sshTag(key.blob);
  if (decoded.key.type === 'ssh-ed25519') {
    const recipientU = ed25519.utils.toMontgomery(decoded.key.publicKey);
    return new SshEd25519Recipient(tag, key.blob, recipientU);
  }
  return new SshRsaRecipient(tag, rsaPublicKeyObject(decoded.key.e, decoded.key.n));
}

/** X25519 keys as node:crypto (OpenSSL) objects: the same function as noble's, about 20× faster here. */
function x25519Public(u: Uint8Array): KeyObject {
  return createPublicKey({ format: 'jwk', key: { kty: 'OKP', crv: 'X25519', x: base64url(u) } });
}

function x25519Private(scalar: Uint8Array): KeyObject {
  const x = x25519.scalarMultBase(scalar);
  return createPrivateKey({
    format: 'jwk',
    key: { kty: 'OKP', crv: 'X25519', d: base64url(scalar), x: base64url(x) },
  });
}

export class SshEd25519Recipient implements Recipient {
  private readonly recipientKey: KeyObject;
  private readonly tweakKey: KeyObject;

  constructor(
    private readonly tag: string,
    blob: Uint8Array,
    private readonly recipientU: Uint8Array,
  ) {
    this.recipientKey = x25519Public(recipientU);
    this.tweakKey = x25519Private(tweakFor(blob));
  }

  wrapFileKey(fileKey: Uint8Array): Stanza[] {
    const ephemeral = generateKeyPairSync('x25519');
    const jwk = ephemeral.publicKey.export({ format: 'jwk' });
    const share = new Uint8Array(Buffer.from(String(jwk.x), 'base64url'));
    // X25519(tweak, X25519(ephemeral, recipient)); OpenSSL refuses an all-zero result (a low-order peer),
    // as Go's curve25519.X25519 does; checked here too.
    const inner = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: this.recipientKey });
    const shared = new Uint8Array(
      diffieHellman({ privateKey: this.tweakKey, publicKey: x25519Public(inner) }),
    );
    if (shared.every((b) => b === 0)) throw new Error('X25519 produced an all-zero shared secret');
    const key = wrapKey(shared, share, this.recipientU);
    const body = chacha20poly1305(key, zeroNonce()).encrypt(fileKey);
    return [new Stanza(['ssh-ed25519', this.tag, encodeBase64(share, false)], body)];
  }
}

export class SshRsaRecipient implements Recipient {
  constructor(
    private readonly tag: string,
    private readonly publicKey: KeyObject,
  ) {}

  wrapFileKey(fileKey: Uint8Array): Stanza[] {
    const body = publicEncrypt(
      {
        key: this.publicKey,
        padding: constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: 'sha256',
        oaepLabel: utf8(RSA_OAEP_LABEL),
      },
      fileKey,
    );
    return [new Stanza(['ssh-rsa', this.tag], new Uint8Array(body))];
  }
}

/**
 * The identity for an SSH private key. Per typage's contract it returns null for stanzas that are not
 * addressed to this key (by type and tag) and throws for ones that are but cannot be opened, as agessh does.
 * It remembers the stanzas it was shown, so a caller can say whom a file was sealed to.
 */
export class SshIdentity implements Identity {
  /** The `TYPE TAG` of every ssh-* stanza seen by the last `unwrapFileKey`. */
  seen: string[] = [];
  private readonly tag: string;

  constructor(private readonly key: SshPrivateKey) {
    this.tag = sshTag(key.publicBlob);
  }

  get fingerprint(): string {
    return this.key.fingerprint;
  }

  unwrapFileKey(stanzas: Stanza[]): Uint8Array | null {
    this.seen = stanzas
      .filter((s) => s.args[0] === 'ssh-ed25519' || s.args[0] === 'ssh-rsa')
      .map((s) => `${s.args[0]} ${s.args[1] ?? '?'}`);
    for (const s of stanzas) {
      const fileKey = this.key.type === 'ssh-ed25519' ? this.unwrapEd25519(s) : this.unwrapRsa(s);
      if (fileKey !== null) return fileKey;
    }
    return null;
  }

  private unwrapEd25519(s: Stanza): Uint8Array | null {
    if (this.key.type !== 'ssh-ed25519' || s.args[0] !== 'ssh-ed25519') return null;
    const [, tag, shareText] = s.args;
    if (s.args.length !== 3 || tag === undefined || shareText === undefined)
      throw badStanza('an ssh-ed25519 stanza must have two arguments');
    const share = decodeBase64(shareText, false);
    if (share?.length !== 32) throw badStanza('the ssh-ed25519 ephemeral share is not 32 bytes of base64');
    if (tag !== this.tag) return null;
    if (s.body.length !== FILE_KEY_SIZE + 16) throw badStanza('the ssh-ed25519 stanza body is not 32 bytes');

    const secret = ed25519.utils.toMontgomerySecret(this.key.seed);
    const ourU = x25519.scalarMultBase(secret);
    let shared: Uint8Array;
    try {
      shared = x25519.scalarMult(tweakFor(this.key.publicBlob), x25519.scalarMult(secret, share));
    } catch {
      throw badStanza('the ssh-ed25519 ephemeral share is a low-order point');
    }
    const key = wrapKey(shared, share, ourU);
    try {
      return chacha20poly1305(key, zeroNonce()).decrypt(s.body);
    } catch {
      throw badStanza(`the ssh-ed25519 stanza for ${this.key.fingerprint} does not decrypt (damaged file?)`);
    }
  }

  private unwrapRsa(s: Stanza): Uint8Array | null {
    if (this.key.type !== 'ssh-rsa' || s.args[0] !== 'ssh-rsa') return null;
    if (s.args.length !== 2) throw badStanza('an ssh-rsa stanza must have one argument');
    if (s.args[1] !== this.tag) return null;
    let fileKey: Uint8Array;
    try {
      fileKey = new Uint8Array(
        privateDecrypt(
          {
            key: this.key.privateKey,
            padding: constants.RSA_PKCS1_OAEP_PADDING,
            oaepHash: 'sha256',
            oaepLabel: utf8(RSA_OAEP_LABEL),
          },
          s.body,
        ),
      );
    } catch {
      throw badStanza(`the ssh-rsa stanza for ${this.key.fingerprint} does not decrypt (damaged file?)`);
    }
    if (fileKey.length !== FILE_KEY_SIZE)
      throw badStanza('the ssh-rsa stanza does not hold a 16-byte file key');
    return fileKey;
  }
}

function badStanza(message: string): CredsError {
  return new CredsError('bad-ciphertext', message);
}

/** Two keys are the same recipient when their wire-format blobs are equal. */
export function sameKey(a: SshPublicKey, b: SshPublicKey): boolean {
  return bytesEqual(a.blob, b.blob);
}
