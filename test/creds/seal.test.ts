// Sealing credentials to SSH keys, checked against the real tools both ways: files from `sealTo` open with
// Debian's `age -d -i KEY`, files from `age -R KEY.pub -a` open with `openWith`, and keys come from ssh-keygen.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CredsError, MAX_SECRET_BYTES, openWith, sealTo } from '../../src/creds/seal.js';
import { requireSshPublicKey, type SshPublicKey } from '../../src/creds/ssh-keys.js';
import { age, type KeyPair, keygen, requireTools, scratchDir } from './tools.js';

const SECRET =
  'postgres://qa_ro_alice:Zx9#q\'L$"p@w0rd%20&;|`@orders-db.internal:5432/orders?sslmode=require\n';

let dir: string;
let remove: () => void;
let ed: KeyPair;
let rsa: KeyPair;
let strangerEd: KeyPair;
let strangerRsa: KeyPair;
let edKey: SshPublicKey;
let rsaKey: SshPublicKey;
let sealed: string;
let sealedPath: string;

it('runs against the real tools: Debian age and ssh-keygen (openssh-client)', () => requireTools());

describe('sealing to real SSH keys', () => {
  beforeAll(async () => {
    requireTools();
    ({ dir, remove } = scratchDir());
    ed = keygen(dir, 'id_ed25519', 'ed25519', { comment: 'alice@laptop' });
    rsa = keygen(dir, 'id_rsa', 'rsa', { bits: 3072, comment: 'alice@desktop' });
    strangerEd = keygen(dir, 'stranger_ed25519', 'ed25519');
    strangerRsa = keygen(dir, 'stranger_rsa', 'rsa', { bits: 2048 });
    edKey = requireSshPublicKey(ed.publicLine);
    rsaKey = requireSshPublicKey(rsa.publicLine);
    sealed = await sealTo(SECRET, [edKey, rsaKey]);
    sealedPath = join(dir, 'creds.age');
    writeFileSync(sealedPath, sealed);
  });

  afterAll(() => remove?.());

  /** The textual header of an armored age file, and its stanzas' argument lines and decoded bodies. */
  function header(armored: string): { lines: string[]; stanzas: { args: string[]; body: Buffer }[] } {
    const b64 = armored
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('-----'))
      .join('');
    const bytes = Buffer.from(b64, 'base64');
    const end = bytes.indexOf('\n--- ');
    const lines = bytes.subarray(0, end).toString('latin1').split('\n');
    const stanzas: { args: string[]; body: Buffer }[] = [];
    for (const line of lines.slice(1)) {
      if (line.startsWith('-> ')) stanzas.push({ args: line.slice(3).split(' '), body: Buffer.alloc(0) });
      else {
        const last = stanzas[stanzas.length - 1];
        if (last) last.body = Buffer.concat([last.body, Buffer.from(line, 'base64')]);
      }
    }
    return { lines, stanzas };
  }

  /** An OpenSSH private key file with its last `bytes` bytes cut off, re-encoded as valid base64. */
  function truncated(pem: string, bytes: number): string {
    const body = pem.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
    const raw = Buffer.from(body.join(''), 'base64');
    const cut = raw.subarray(0, raw.length - bytes).toString('base64');
    return `-----BEGIN OPENSSH PRIVATE KEY-----\n${cut}\n-----END OPENSSH PRIVATE KEY-----\n`;
  }

  /** The age stanza tag computed independently: SHA-256 of the key's wire bytes from the .pub line, 4 bytes. */
  function expectedTag(publicLine: string): string {
    const blob = Buffer.from(publicLine.split(' ')[1] ?? '', 'base64');
    return createHash('sha256').update(blob).digest().subarray(0, 4).toString('base64').replace(/=+$/, '');
  }

  describe('sealTo → Debian age', () => {
    it('is ASCII-armored age with one stanza per key', () => {
      expect(sealed.startsWith('-----BEGIN AGE ENCRYPTED FILE-----\n')).toBe(true);
      expect(sealed.endsWith('-----END AGE ENCRYPTED FILE-----\n')).toBe(true);
      const h = header(sealed);
      expect(h.lines[0]).toBe('age-encryption.org/v1');
      expect(h.stanzas.map((s) => s.args[0])).toEqual(['ssh-ed25519', 'ssh-rsa']);
    });

    it('writes the stanza arguments agessh writes: the key tag, and the ed25519 ephemeral share', () => {
      const [edStanza, rsaStanza] = header(sealed).stanzas;
      expect(edStanza?.args).toHaveLength(3);
      expect(edStanza?.args[1]).toBe(expectedTag(ed.publicLine));
      expect(edStanza?.args[1]).toMatch(/^[A-Za-z0-9+/]{6}$/);
      expect(Buffer.from(edStanza?.args[2] ?? '', 'base64')).toHaveLength(32);
      expect(edStanza?.args[2]).not.toContain('=');
      expect(edStanza?.body).toHaveLength(32); // 16-byte file key + Poly1305 tag
      expect(rsaStanza?.args).toEqual(['ssh-rsa', expectedTag(rsa.publicLine)]);
      expect(rsaStanza?.body).toHaveLength(3072 / 8); // one RSA-OAEP block
    });

    it('uses the same tags as age itself for the same keys', () => {
      const fromAge = age(['-R', `${ed.path}.pub`, '-R', `${rsa.path}.pub`, '-a'], 'x');
      expect(fromAge.status).toBe(0);
      const theirs = header(fromAge.stdout).stanzas.map((s) => s.args.slice(0, 2));
      const ours = header(sealed).stanzas.map((s) => s.args.slice(0, 2));
      expect(ours).toEqual(theirs);
    });

    it('opens with `age -d -i` and the ed25519 private key', () => {
      const r = age(['-d', '-i', ed.path, sealedPath]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(SECRET);
    });

    it('opens with `age -d -i` and the RSA private key', () => {
      const r = age(['-d', '-i', rsa.path, sealedPath]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(SECRET);
    });

    it('does not open with `age -d -i` and someone else’s key', () => {
      for (const key of [strangerEd, strangerRsa]) {
        const r = age(['-d', '-i', key.path, sealedPath]);
        expect(r.status).not.toBe(0);
        expect(r.stdout).toBe('');
        expect(r.stderr).toMatch(/no identity matched/);
      }
    });

    it('seals each file with fresh randomness', async () => {
      const again = await sealTo(SECRET, [edKey, rsaKey]);
      expect(again).not.toBe(sealed);
      expect(header(again).stanzas[0]?.args[2]).not.toBe(header(sealed).stanzas[0]?.args[2]);
      // The second seal reuses the recipients built for the first (src/creds/age-ssh.ts keeps them): age
      // still opens it with either key.
      const againPath = join(dir, 'again.age');
      writeFileSync(againPath, again);
      for (const key of [ed, rsa]) expect(age(['-d', '-i', key.path, againPath]).stdout).toBe(SECRET);
    });

    it('seals to a key listed twice once', async () => {
      const twice = await sealTo('x', [edKey, requireSshPublicKey(`${ed.publicLine} other-comment`)]);
      expect(header(twice).stanzas).toHaveLength(1);
      expect(age(['-d', '-i', ed.path], twice).stdout).toBe('x');
    });

    it('writes files age reads at every size up to the largest secret, to one key or two', async () => {
      const text = (n: number) =>
        Array.from({ length: n }, (_, i) => String.fromCharCode(33 + (i % 94))).join('');
      for (const n of [1, 47, 48, 4096, MAX_SECRET_BYTES - 1, MAX_SECRET_BYTES]) {
        const plain = text(n);
        for (const keys of [[edKey], [rsaKey, edKey]]) {
          const file = await sealTo(plain, keys);
          expect(
            age(['-d', '-i', ed.path], file).stdout === plain,
            `${n} bytes to ${keys.length} key(s)`,
          ).toBe(true);
          const other = keys.length === 2 ? rsa.privateKey : ed.privateKey;
          expect((await openWith(file, other)) === plain, `${n} bytes, openWith`).toBe(true);
        }
      }
      // One byte more than the largest secret is refused.
      await expect(sealTo(`${text(MAX_SECRET_BYTES)}x`, [edKey])).rejects.toThrow(/at most 65536/);
    });

    it('lets I/O through between seals: each seal takes a turn of the event loop', async () => {
      // apply seals one batch of grants while the next is on its way to the server: a loop of seals must
      // not hold back the I/O callbacks (the server's answers) that were due before it.
      let due = 0;
      const seen: number[] = [];
      for (let i = 0; i < 3; i++) {
        setImmediate(() => due++);
        await sealTo(SECRET, [edKey]);
        seen.push(due);
      }
      expect(seen).toEqual([1, 2, 3]);
    });

    it('refuses to seal to no keys', async () => {
      await expect(sealTo(SECRET, [])).rejects.toThrow(/no SSH public keys were given/);
      await expect(sealTo(SECRET, [])).rejects.toMatchObject({ code: 'no-keys' });
    });

    it('handles an empty secret and non-ASCII text', async () => {
      for (const text of ['', 'pässwörd ✓ 🔑\r\n\u0000tail']) {
        const file = await sealTo(text, [edKey]);
        expect(age(['-d', '-i', ed.path], file).stdout).toBe(text);
        expect(await openWith(file, ed.privateKey)).toBe(text);
      }
    });
  });

  describe('openWith', () => {
    it('opens a sealed file with the ed25519 private key', async () => {
      expect(await openWith(sealed, ed.privateKey)).toBe(SECRET);
    });

    it('opens a sealed file with the RSA private key', async () => {
      expect(await openWith(sealed, rsa.privateKey)).toBe(SECRET);
    });

    it('rejects someone else’s key, naming its fingerprint and the file’s tags', async () => {
      for (const key of [strangerEd, strangerRsa]) {
        const err = await openWith(sealed, key.privateKey).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(CredsError);
        expect(err).toMatchObject({ code: 'not-a-recipient' });
        const fingerprint = requireSshPublicKey(key.publicLine).fingerprint;
        expect((err as Error).message).toContain(fingerprint);
        expect((err as Error).message).toContain(`ssh-ed25519 ${expectedTag(ed.publicLine)}`);
      }
    });

    it('opens files made by `age -R KEY.pub -a` (ed25519, RSA, both)', async () => {
      const cases: [string[], KeyPair[]][] = [
        [['-R', `${ed.path}.pub`], [ed]],
        [['-R', `${rsa.path}.pub`], [rsa]],
        [
          ['-R', `${ed.path}.pub`, '-R', `${rsa.path}.pub`],
          [ed, rsa],
        ],
      ];
      for (const [recipients, keys] of cases) {
        const r = age([...recipients, '-a'], SECRET);
        expect(r.status).toBe(0);
        expect(r.stdout.startsWith('-----BEGIN AGE ENCRYPTED FILE-----')).toBe(true);
        for (const key of keys) expect(await openWith(r.stdout, key.privateKey)).toBe(SECRET);
        await expect(openWith(r.stdout, strangerEd.privateKey)).rejects.toMatchObject({
          code: 'not-a-recipient',
        });
      }
    });

    it('opens with an RSA key in PEM format (ssh-keygen -m PEM)', async () => {
      const pem = keygen(dir, 'id_rsa_pem', 'rsa', { bits: 2048, format: 'PEM' });
      expect(pem.privateKey).toContain('-----BEGIN RSA PRIVATE KEY-----');
      const file = await sealTo(SECRET, [requireSshPublicKey(pem.publicLine)]);
      expect(age(['-d', '-i', pem.path], file).stdout).toBe(SECRET);
      expect(await openWith(file, pem.privateKey)).toBe(SECRET);
    });

    it('refuses a passphrase-protected key, pointing at age -d -i', async () => {
      for (const [name, type] of [
        ['locked_ed25519', 'ed25519'],
        ['locked_rsa', 'rsa'],
      ] as const) {
        const locked = keygen(dir, name, type, { passphrase: 'correct horse battery staple' });
        const err = await openWith(sealed, locked.privateKey).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'passphrase-protected' });
        expect((err as Error).message).toMatch(/passphrase/);
        expect((err as Error).message).toContain('age -d -i');
      }
    });

    it('refuses things that are not a usable private key, saying what they are', async () => {
      const ecdsa = keygen(dir, 'id_ecdsa', 'ecdsa');
      const cases: [string, RegExp][] = [
        ['', /empty/],
        [ed.publicLine, /public key; give the private key file/],
        ['AGE-SECRET-KEY-1QQQ', /native age identity/],
        ['hello', /not an SSH private key/],
        [ecdsa.privateKey, /ecdsa.*age can decrypt with ssh-ed25519 and ssh-rsa keys/],
        [ed.privateKey.replace(/\n[A-Za-z0-9+/]{8}/, '\n'), /does not start with openssh-key-v1/],
        [ed.privateKey.replace(/\n[A-Za-z0-9+/]{9}/, '\n'), /not valid base64/],
        [truncated(ed.privateKey, 40), /malformed: .*(truncated|claims)/],
        [truncated(rsa.privateKey, 300), /malformed: .*(truncated|claims)/],
      ];
      for (const [text, message] of cases) {
        const err = await openWith(sealed, text).catch((e: unknown) => e);
        expect(err, text.slice(0, 40)).toMatchObject({ code: 'bad-private-key' });
        expect((err as Error).message).toMatch(message);
      }
    });

    it('refuses a damaged or non-age file', async () => {
      await expect(openWith('not age', ed.privateKey)).rejects.toMatchObject({ code: 'bad-ciphertext' });
      // Flip one character of the payload (the last base64 line before the footer).
      const lines = sealed.trimEnd().split('\n');
      const i = lines.length - 2;
      const line = lines[i] ?? '';
      lines[i] = (line[0] === 'A' ? 'B' : 'A') + line.slice(1);
      await expect(openWith(`${lines.join('\n')}\n`, ed.privateKey)).rejects.toMatchObject({
        code: 'bad-ciphertext',
      });
    });
  });
});
