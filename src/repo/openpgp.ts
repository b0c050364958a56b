// Checks the OpenPGP signature GitHub puts on the commits it makes (its "web-flow" key signs merges and
// commits made through the API), in process: no gpg, no keyring, no process per commit. The cryptography and
// the OpenPGP packet format (RFC 4880 / RFC 9580) are OpenPGP.js's (the `openpgp` package, audited by
// Cure53), never our own: this module only splits a raw commit object into what git signed and its `gpgsig`
// header, as `git verify-commit` does, and maps OpenPGP.js's answer to a SignatureCheck.
// What counts: a binary-mode signature (git's, type 0x00) over the exact bytes of the commit object without
// its `gpgsig` header, by a key (or subkey) in the given key files, valid at the time the signature says it
// was made (expiry and revocation as OpenPGP.js evaluates them then). SHA-1, MD5 and RIPEMD-160 signatures
// are refused (OpenPGP.js's default `rejectMessageHashAlgorithms`), RSA keys shorter than 2047 bits too.
// The key files are the trust decision (docs/audit.md); docs/decisions.md says why OpenPGP.js.
import { createHash } from 'node:crypto';
import type { PublicKey as PgpKey, Signature, VerifyMessageResult } from 'openpgp';

/** OpenPGP.js, loaded on first use (about 50 ms): a run with no `audit.signing_keys` never needs it. */
const openpgp = () => import('openpgp');

export class OpenPgpError extends Error {}

export interface PublicKey {
  /** Upper-case hex fingerprint of the primary key. */
  fingerprint: string;
  /**
   * The fingerprint and a digest of everything read with the key (subkeys, self-signatures, revocations):
   * checks cached against a key are reused only while this is the same, as a revocation changes answers.
   */
  state: string;
  /** The key as OpenPGP.js read it (with its subkeys and self-signatures). */
  key: PgpKey;
}

export type SignatureCheck =
  | { status: 'valid'; signer: string }
  /** No signature on the commit. */
  | { status: 'none' }
  /** Signed, but by no key in the trusted set (or in a form or by a key state OpenPGP.js refuses). */
  | { status: 'untrusted'; detail: string }
  /** Signed by a trusted key's id, but the signature does not verify: the commit was changed. */
  | { status: 'bad'; detail: string };

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

// ---- keys ---------------------------------------------------------------------------------------------------

/**
 * Every key in armored or binary key material (as public keys: a private key's secret part is dropped).
 * Text with no key at all is an error (a wrong file is better found than trusted to say nothing).
 */
export async function readPublicKeys(material: string | Uint8Array): Promise<PublicKey[]> {
  const text = typeof material === 'string' ? material : Buffer.from(material).toString('latin1');
  let keys: PgpKey[];
  try {
    const { readKeys } = await openpgp();
    const read = text.includes('-----BEGIN PGP ')
      ? await readKeys({ armoredKeys: text })
      : await readKeys({
          binaryKeys: typeof material === 'string' ? Buffer.from(material, 'latin1') : material,
        });
    keys = read.map((k) => k.toPublic());
  } catch (err) {
    throw new OpenPgpError(message(err));
  }
  if (keys.length === 0) throw new OpenPgpError('no OpenPGP public key found');
  return keys.map((key) => {
    const fingerprint = key.getFingerprint().toUpperCase();
    const digest = createHash('sha256').update(key.write()).digest('hex').slice(0, 32);
    return { fingerprint, state: `${fingerprint}:${digest}`, key };
  });
}

// ---- signatures ---------------------------------------------------------------------------------------------

/** OpenPGP.js's errors for a signature whose cryptography fails (as opposed to one it will not judge). */
const TAMPERED = /^(Signed digest did not match|Signature verification failed)/;

/** Checks an armored detached signature over exactly the bytes of `data` against `keys`. */
async function verifyDetached(
  data: Uint8Array,
  armored: string,
  keys: readonly PublicKey[],
): Promise<SignatureCheck> {
  const { createMessage, readSignature, verify } = await openpgp();
  let signature: Signature;
  try {
    signature = await readSignature({ armoredSignature: armored });
  } catch (err) {
    return { status: 'untrusted', detail: `unreadable signature (${message(err)})` };
  }
  const packets = signature.packets;
  if (packets.length === 0) return { status: 'untrusted', detail: 'not an OpenPGP signature' };
  const issuers = signature.getSigningKeyIDs();
  const trusted = keys.filter((k) => issuers.some((id) => k.key.getKeys(id).length > 0));
  if (trusted.length === 0) {
    const names = issuers.map((id) => id.toHex().toUpperCase()).join(', ');
    return { status: 'untrusted', detail: `signed by ${names || 'an unnamed key'}` };
  }
  // Judged as of when it was made (as gpg does for the key's validity): a history is audited long after.
  // openpgp refuses to read a signature without a creation time, so this is a guard, not a path.
  const made = packets[0]?.created;
  if (!made) return { status: 'untrusted', detail: 'the signature has no creation time' };
  let result: VerifyMessageResult;
  try {
    result = await verify({
      message: await createMessage({ binary: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) }),
      signature,
      verificationKeys: trusted.map((k) => k.key),
      date: made,
    });
  } catch (err) {
    return { status: 'untrusted', detail: `unreadable signature (${message(err)})` };
  }
  let last: SignatureCheck = { status: 'untrusted', detail: 'not an OpenPGP signature' };
  for (const sig of result.signatures) {
    const signer = trusted.flatMap((k) => k.key.getKeys(sig.keyID))[0];
    try {
      await sig.verified;
      if (signer) return { status: 'valid', signer: signer.getFingerprint().toUpperCase() };
    } catch (err) {
      const who = signer?.getFingerprint().toUpperCase() ?? sig.keyID.toHex().toUpperCase();
      const r: SignatureCheck = TAMPERED.test(message(err))
        ? { status: 'bad', detail: `signature by ${who} does not verify` }
        : { status: 'untrusted', detail: `signature by ${who} refused (${message(err)})` };
      // A bad signature by a trusted key says more than an untrusted one.
      if (last.status !== 'bad') last = r;
    }
  }
  return last;
}

// ---- commits ------------------------------------------------------------------------------------------------

/**
 * A raw commit object split into what was signed (the object without its `gpgsig` header) and the signature,
 * as `git verify-commit` does. Null when the commit carries no `gpgsig` header.
 */
function splitSignedCommit(raw: Buffer): { payload: Buffer; signature: string } | null {
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
export async function checkCommitSignature(raw: Buffer, keys: readonly PublicKey[]): Promise<SignatureCheck> {
  const split = splitSignedCommit(raw);
  if (!split) return { status: 'none' };
  if (!split.signature.startsWith('-----BEGIN PGP SIGNATURE-----')) {
    const kind = /^-----BEGIN ([A-Z ]+)-----/.exec(split.signature)?.[1] ?? 'unknown';
    return { status: 'untrusted', detail: `${kind.toLowerCase()} (not OpenPGP)` };
  }
  return verifyDetached(split.payload, split.signature, keys);
}
