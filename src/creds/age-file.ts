// The age v1 file format (age-encryption.org/v1) for a payload held in memory: what typage's Encrypter
// writes, with node:crypto's HKDF, HMAC and ChaCha20-Poly1305 and without its web streams, which were two
// thirds of the CPU of a seal (apply seals one file per grant). typage's Decrypter and stock `age` read it
// (test/creds/seal.test.ts).
//
//   header  = "age-encryption.org/v1\n", then per stanza "-> ARGS\n" and its body in base64 (no padding)
//             wrapped at 64 columns, the last line shorter (empty when the body is a multiple of 48 bytes);
//             then "---", " ", base64(HMAC-SHA-256(HKDF-SHA-256(file key, salt = empty, "header"), header
//             up to "---")), "\n"
//   payload = a 16-byte random nonce, then STREAM: 64 KiB chunks, each ChaCha20-Poly1305 with
//             key = HKDF-SHA-256(file key, salt = nonce, "payload") and nonce = 11-byte big-endian chunk
//             counter || 0x01 for the last chunk (0x00 before); an empty payload is one empty last chunk.
import { createCipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { Recipient, Stanza } from 'age-encryption';

const VERSION = 'age-encryption.org/v1';
const FILE_KEY_SIZE = 16;
const CHUNK_SIZE = 64 * 1024;

const nopad = (b: Uint8Array) =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64').replace(/=+$/, '');

/** The header without its MAC, up to and including `---`. */
function headerNoMac(stanzas: readonly Stanza[]): Buffer {
  const lines = [`${VERSION}\n`];
  for (const s of stanzas) {
    lines.push(`-> ${s.args.join(' ')}\n`);
    for (let i = 0; i < s.body.length; i += 48) lines.push(`${nopad(s.body.subarray(i, i + 48))}\n`);
    if (s.body.length % 48 === 0) lines.push('\n');
  }
  lines.push('---');
  return Buffer.from(lines.join(''), 'utf8');
}

/** An age file of `plaintext` that any one of `recipients` opens (binary, not armored). */
export async function encryptAge(
  plaintext: Uint8Array,
  recipients: readonly Recipient[],
): Promise<Uint8Array> {
  if (recipients.length === 0) throw new Error('an age file needs at least one recipient');
  const fileKey = new Uint8Array(randomBytes(FILE_KEY_SIZE));
  const stanzas: Stanza[] = [];
  for (const r of recipients) stanzas.push(...(await r.wrapFileKey(fileKey)));
  const head = headerNoMac(stanzas);
  const macKey = Buffer.from(hkdfSync('sha256', fileKey, new Uint8Array(0), 'header', 32));
  const mac = createHmac('sha256', macKey).update(head).digest();
  const nonce = randomBytes(16);
  const streamKey = Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
  const parts: Uint8Array[] = [head, Buffer.from(` ${nopad(mac)}\n`, 'utf8'), nonce];
  const chunks = Math.max(1, Math.ceil(plaintext.length / CHUNK_SIZE));
  for (let i = 0; i < chunks; i++) {
    const iv = Buffer.alloc(12);
    iv.writeUIntBE(i, 5, 6);
    if (i === chunks - 1) iv[11] = 1;
    const cipher = createCipheriv('chacha20-poly1305', streamKey, iv, { authTagLength: 16 });
    parts.push(cipher.update(plaintext.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE)), cipher.final());
    parts.push(cipher.getAuthTag());
  }
  return new Uint8Array(Buffer.concat(parts));
}
