// Credentials sealed to a requester's SSH keys as an ASCII-armored age file, which the requester opens
// with stock age (`age -d -i ~/.ssh/id_ed25519`), or with `openWith` (`timebox creds`, the demo).
import { setImmediate as nextTurn } from 'node:timers/promises';
import { armor, Decrypter, Encrypter } from 'age-encryption';
import { SshIdentity, sameKey, sshRecipient } from './age-ssh.js';
import { CredsError } from './errors.js';
import type { SshPublicKey } from './ssh-keys.js';
import { parseSshPrivateKey } from './ssh-private-key.js';

export { CredsError, type CredsErrorCode } from './errors.js';

/** Largest secret sealed in one file: credentials are short; a large input is a mistake. */
export const MAX_SECRET_BYTES = 64 * 1024;
/** Largest armored file `openWith` reads. */
const MAX_ARMORED_BYTES = 256 * 1024;

/**
 * Encrypts `text` to every key (one age recipient stanza per distinct key; a key listed twice is sealed to
 * once) and returns the ASCII-armored age file, `-----BEGIN AGE ENCRYPTED FILE-----` … with a final newline.
 */
export async function sealTo(text: string, keys: SshPublicKey[]): Promise<string> {
  if (!Array.isArray(keys) || keys.length === 0)
    throw new CredsError(
      'no-keys',
      'cannot seal credentials to nobody: no SSH public keys were given (the requester needs an ssh-ed25519 or ssh-rsa key on their GitHub account, or in the keys file)',
    );
  if (typeof text !== 'string') throw new TypeError('the secret must be a string');
  const size = Buffer.byteLength(text, 'utf8');
  if (size > MAX_SECRET_BYTES)
    throw new RangeError(`the secret is ${size} bytes; at most ${MAX_SECRET_BYTES} can be sealed`);

  // Sealing is CPU only (age's streams settle in microtasks): without a turn of the event loop here, a loop
  // of seals would hold back every I/O callback meanwhile — apply seals one batch of grants while the next
  // is being granted, and the next batch's queries would wait for the last seal.
  await nextTurn();
  const distinct: SshPublicKey[] = [];
  for (const k of keys) if (!distinct.some((d) => sameKey(d, k))) distinct.push(k);
  const encrypter = new Encrypter();
  for (const key of distinct) encrypter.addRecipient(sshRecipient(key));
  return armor.encode(await encrypter.encrypt(text));
}

/**
 * Decrypts an armored age file with an unencrypted SSH private key file's text (OpenSSH format, ed25519 or
 * RSA; PEM RSA too). Rejects with `CredsError`: `passphrase-protected` (use `age -d -i`, which prompts),
 * `bad-private-key`, `bad-ciphertext`, or `not-a-recipient` when the file was sealed to other keys.
 */
export async function openWith(armored: string, privateKeyPem: string): Promise<string> {
  const identity = new SshIdentity(parseSshPrivateKey(privateKeyPem));
  if (typeof armored !== 'string' || armored.length > MAX_ARMORED_BYTES)
    throw new CredsError(
      'bad-ciphertext',
      'the sealed credentials are not an ASCII-armored age file (or too large)',
    );
  let file: Uint8Array;
  try {
    file = armor.decode(armored);
  } catch (err) {
    throw new CredsError(
      'bad-ciphertext',
      `the sealed credentials are not a valid ASCII-armored age file (-----BEGIN AGE ENCRYPTED FILE-----): ${(err as Error).message}`,
    );
  }
  const decrypter = new Decrypter();
  decrypter.addIdentity(identity);
  try {
    return await decrypter.decrypt(file, 'text');
  } catch (err) {
    if (err instanceof CredsError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    if (/no identity matched/.test(message)) {
      const to = identity.seen.length > 0 ? `SSH keys with tags ${identity.seen.join(', ')}` : 'no SSH key';
      throw new CredsError(
        'not-a-recipient',
        `these credentials were not sealed to your key ${identity.fingerprint}: they are sealed to ${to}`,
      );
    }
    throw new CredsError('bad-ciphertext', `the sealed credentials cannot be decrypted: ${message}`);
  }
}
