// OpenSSH public keys as credentials are sealed to: the key lines GitHub serves for an account
// (`https://github.com/LOGIN.keys`), or an offline keys file. Key lines are hostile input: every
// field is validated, and nothing in them is ever passed on except the verified key.
import { createHash } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { loadYaml, type PathSegment, type Position } from '../core/yaml-loader.js';
import { bitLength, concat, decodeBase64, SshReader, sshMpint, sshString, WireError } from './wire.js';

/** The SSH key types age can encrypt to (age-encryption.org/v1 `ssh-ed25519` and `ssh-rsa` stanzas). */
export const SUPPORTED_KEY_TYPES = ['ssh-ed25519', 'ssh-rsa'] as const;
export type SshKeyType = (typeof SUPPORTED_KEY_TYPES)[number];

/** age refuses smaller RSA recipients; so do we. */
export const MIN_RSA_BITS = 2048;
/** OpenSSH's own upper bound. */
export const MAX_RSA_BITS = 16384;
/** Longer lines are refused before any decoding (a 16384-bit RSA key line is about 2.8 KB). */
export const MAX_KEY_LINE_LENGTH = 8192;
export const MAX_COMMENT_LENGTH = 256;
/** Keys per login in a keys file: one stanza each goes into every sealed file's header. */
export const MAX_KEYS_PER_LOGIN = 32;

export interface SshPublicKey {
  type: SshKeyType;
  /** The key in SSH wire format (RFC 4253 §6.6), exactly as decoded from the line (always canonical). */
  blob: Uint8Array;
  /** 256 for ed25519, the modulus size for RSA. */
  bits: number;
  /** `SHA256:…`, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  /** The comment after the key data (validated: no control characters or shell/markup metacharacters). */
  comment: string;
  /** `TYPE BASE64`, without the comment: safe to print and to hand to `age -R`. */
  text: string;
}

/** The key material inside a validated wire-format blob. */
export type DecodedSshKey =
  | { type: 'ssh-ed25519'; publicKey: Uint8Array }
  | { type: 'ssh-rsa'; e: Uint8Array; n: Uint8Array };

export interface SshKeyAccepted {
  ok: true;
  key: SshPublicKey;
}

export interface SshKeyRejected {
  ok: false;
  /** `unsupported-type`: a real SSH key of a kind age cannot encrypt to (ecdsa, sk-*, dss, certificates). */
  reason: 'unsupported-type' | 'invalid';
  /** The key type named on the line, when there was one. */
  keyType?: string;
  message: string;
}

export type SshKeyResult = SshKeyAccepted | SshKeyRejected;

const UNSUPPORTED_HINT = 'age can encrypt to ssh-ed25519 and ssh-rsa keys';
/** What OpenSSH key type names look like (ssh-*, ecdsa-sha2-*, sk-*@openssh.com, certificates, x509v3-*). */
const KEY_TYPE_NAME =
  /^(?:ssh-[a-z0-9-]{2,40}|ecdsa-sha2-[a-z0-9-]{2,40}|x509v3-[a-z0-9-]{2,40}|[a-z0-9-]{2,40}@openssh\.com)$/;
const COMMENT_FORBIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}`$<>|;&\\"]/u;

const invalid = (message: string, keyType?: string): SshKeyRejected =>
  keyType === undefined
    ? { ok: false, reason: 'invalid', message }
    : { ok: false, reason: 'invalid', keyType, message };

/** A character as it can be shown safely in a message: `"$"`, or `U+001B` for invisible ones. */
function showChar(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  if (/[\p{Cc}\p{Cf}\p{Z}]/u.test(c)) return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  return JSON.stringify(c);
}

/**
 * Parses one OpenSSH public key line, `TYPE BASE64 [COMMENT]`. Never throws: keys of other types come back
 * as `unsupported-type`, anything malformed as `invalid`, each with a message that says what is wrong.
 */
export function parseSshPublicKey(line: string): SshKeyResult {
  return parseKeyLine(line, true);
}

/**
 * `parseSshPublicKey`, with the ed25519 curve point check (the costly one: a point decompression) left out
 * when `checkPoint` is false; a key accepted so must be checked with `decodeSshPublicKeyBlob` before use.
 */
function parseKeyLine(line: string, checkPoint: boolean): SshKeyResult {
  if (typeof line !== 'string') return invalid('a key line must be a string');
  if (line.length > MAX_KEY_LINE_LENGTH)
    return invalid(
      `the key line is ${line.length} characters long; at most ${MAX_KEY_LINE_LENGTH} are allowed`,
    );
  const trimmed = line.replace(/^[ \t]+/, '').replace(/[ \t]*\r?\n?$/, '');
  if (trimmed === '') return invalid('the key line is empty');
  if (/[\r\n]/.test(trimmed))
    return invalid('a key line must be a single line (found a line break inside it)');

  const fields = trimmed.split(/[ \t]+/);
  const [keyType = '', data, ...commentWords] = fields;
  if (!KEY_TYPE_NAME.test(keyType)) {
    if (/[="]/.test(keyType) || fields.slice(1).some((f) => KEY_TYPE_NAME.test(f)))
      return invalid('authorized_keys options before the key are not supported: give the bare key line');
    return invalid(
      `the line does not start with an SSH key type (found ${JSON.stringify(keyType.slice(0, 40))})`,
    );
  }
  if (!(SUPPORTED_KEY_TYPES as readonly string[]).includes(keyType)) {
    return {
      ok: false,
      reason: 'unsupported-type',
      keyType,
      message: `unsupported key type ${keyType}: ${UNSUPPORTED_HINT}`,
    };
  }
  const type = keyType as SshKeyType;
  if (data === undefined || data === '') return invalid(`the ${type} key data (base64) is missing`, type);

  const comment = commentWords.join(' ');
  if (comment.length > MAX_COMMENT_LENGTH)
    return invalid(
      `the key comment is ${comment.length} characters long; at most ${MAX_COMMENT_LENGTH} are allowed`,
      type,
    );
  const bad = COMMENT_FORBIDDEN.exec(comment);
  if (bad)
    return invalid(
      `the key comment contains ${showChar(bad[0])}, which is refused in key comments ` +
        '(control characters and ` $ < > | ; & \\ " are not allowed)',
      type,
    );

  const blob = decodeBase64(data, true);
  if (!blob) return invalid(`the ${type} key data is not valid base64 (truncated or altered?)`, type);
  const decoded = decodeBlob(blob, type, checkPoint);
  if (!decoded.ok) return invalid(decoded.message, type);

  const bits = decoded.key.type === 'ssh-rsa' ? bitLength(decoded.key.n) : 256;
  return {
    ok: true,
    key: { type, blob, bits, fingerprint: sshFingerprint(blob), comment, text: `${type} ${data}` },
  };
}

/** Like `parseSshPublicKey`, for callers that hold a line they expect to be good: throws with the message. */
export function requireSshPublicKey(line: string): SshPublicKey {
  const r = parseSshPublicKey(line);
  if (!r.ok) throw new Error(r.message);
  return r.key;
}

/** `SHA256:` and the unpadded base64 SHA-256 of the wire-format key, as OpenSSH shows fingerprints. */
export function sshFingerprint(blob: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Validates a wire-format public key strictly: the type string inside matches `expectedType` (when given),
 * every length is exact, nothing trails, integers are canonical, ed25519 points decode and are not of small
 * order, RSA moduli are MIN_RSA_BITS..MAX_RSA_BITS with the exponent OpenSSH and Go accept.
 */
export function decodeSshPublicKeyBlob(
  blob: Uint8Array,
  expectedType?: string,
): { ok: true; key: DecodedSshKey } | { ok: false; message: string } {
  return decodeBlob(blob, expectedType, true);
}

function decodeBlob(
  blob: Uint8Array,
  expectedType: string | undefined,
  checkPoint: boolean,
): { ok: true; key: DecodedSshKey } | { ok: false; message: string } {
  const r = new SshReader(blob);
  let inner: string;
  try {
    inner = r.name('the key type');
  } catch (err) {
    return { ok: false, message: `the key data is not an SSH public key (${(err as Error).message})` };
  }
  if (expectedType !== undefined && inner !== expectedType)
    return {
      ok: false,
      message: `the key data is a ${inner} key, but the line says ${expectedType} (the type inside the key must match)`,
    };
  try {
    if (inner === 'ssh-ed25519') {
      const publicKey = r.string('the ed25519 public key');
      r.end('the ed25519 public key');
      if (publicKey.length !== 32)
        return { ok: false, message: `the ed25519 public key is ${publicKey.length} bytes; it must be 32` };
      const problem = checkPoint ? ed25519PointProblem(publicKey) : null;
      if (problem) return { ok: false, message: problem };
      return { ok: true, key: { type: 'ssh-ed25519', publicKey } };
    }
    if (inner === 'ssh-rsa') {
      const e = r.mpint('the RSA exponent');
      const n = r.mpint('the RSA modulus');
      r.end('the RSA modulus');
      const eBits = bitLength(e);
      if (eBits > 24) return { ok: false, message: 'the RSA exponent is too large' };
      const eValue = e.reduce((acc, b) => acc * 256 + b, 0);
      if (eValue < 3 || eValue % 2 === 0)
        return { ok: false, message: `the RSA exponent ${eValue} is not valid` };
      const bits = bitLength(n);
      if (bits < MIN_RSA_BITS)
        return {
          ok: false,
          message: `the RSA key is ${bits} bits; at least ${MIN_RSA_BITS} bits are required (use ssh-ed25519, or ssh-keygen -t rsa -b 3072)`,
        };
      if (bits > MAX_RSA_BITS)
        return {
          ok: false,
          message: `the RSA key is ${bits} bits; at most ${MAX_RSA_BITS} bits are supported`,
        };
      if (((n[n.length - 1] ?? 0) & 1) === 0) return { ok: false, message: 'the RSA modulus is even' };
      return { ok: true, key: { type: 'ssh-rsa', e, n } };
    }
  } catch (err) {
    if (err instanceof WireError)
      return { ok: false, message: `the ${inner} key data is malformed: ${err.message}` };
    throw err;
  }
  return { ok: false, message: `unsupported key type ${inner}: ${UNSUPPORTED_HINT}` };
}

/** Why 32 bytes are not an ed25519 public key to encrypt to (no curve point, or one of small order), or null. */
function ed25519PointProblem(publicKey: Uint8Array): string | null {
  let point: ReturnType<typeof ed25519.Point.fromBytes>;
  try {
    point = ed25519.Point.fromBytes(publicKey);
  } catch {
    return 'the ed25519 public key is not a valid curve point';
  }
  return point.isSmallOrder() ? 'the ed25519 public key is a small-order point' : null;
}

/** The canonical wire-format blob for decoded key material (used for private keys, which carry no line). */
export function encodeSshPublicKeyBlob(key: DecodedSshKey): Uint8Array {
  return key.type === 'ssh-ed25519'
    ? concat(sshString('ssh-ed25519'), sshString(key.publicKey))
    : concat(sshString('ssh-rsa'), sshMpint(key.e), sshMpint(key.n));
}

export interface AuthorizedKeyLine {
  /** 1-based line number in the text. */
  line: number;
  result: SshKeyResult;
}

/** Every key line in an authorized_keys-style text (GitHub's `LOGIN.keys`); blank and `#` lines are skipped. */
export function parseAuthorizedKeys(text: string): AuthorizedKeyLine[] {
  const out: AuthorizedKeyLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    out.push({ line: i + 1, result: parseSshPublicKey(line) });
  });
  return out;
}

export interface SkippedKey extends Position {
  login: string;
  keyType: string;
  message: string;
}

export interface KeysFileError extends Position {
  /** The login the problem is under, when it is under one. */
  login?: string;
  message: string;
}

export interface LoginKeys {
  /** As written in the file. */
  login: string;
  keys: SshPublicKey[];
}

export interface KeysFile {
  /** By lower-cased login (GitHub logins are case-insensitive). */
  logins: Map<string, LoginKeys>;
  /** Keys of types age cannot encrypt to: left out, worth a warning. */
  skipped: SkippedKey[];
  /** Anything else wrong: the file should not be used while there are any. */
  errors: KeysFileError[];
}

const LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/;

/**
 * An offline keys file: a YAML map of GitHub login to a list of key lines, or to one multi-line string of
 * them (what `https://github.com/LOGIN.keys` serves). Every error names the login and where it is.
 *
 * ```yaml
 * alice:
 *   - ssh-ed25519 AAAAC3Nza… alice@laptop
 * bob: |
 *   ssh-rsa AAAAB3Nza…
 * ```
 *
 * Every key is checked in full here; `scanKeysFile` leaves the costly check to the keys that are used.
 */
export function parseKeysFile(text: string): KeysFile {
  return readKeysFile(text, true).file;
}

/** The keys of one login of a scanned keys file, every check made, or what is wrong with them. */
export type CheckedLoginKeys =
  | { ok: true; login: string; keys: SshPublicKey[] }
  | { ok: false; login: string; errors: KeysFileError[] };

/** A keys file read with every check but the costly one, which is made per login on first use. */
export interface KeysFileScan {
  /** Every login of the file, by lower-cased login: as written. */
  logins: ReadonlyMap<string, string>;
  /** Keys of types age cannot encrypt to: left out, worth a warning. */
  skipped: SkippedKey[];
  /**
   * What is wrong in the file (its YAML, its logins, duplicates, any key line's syntax, type, base64, wire
   * format, RSA size and exponent): the file should not be used while there are any.
   */
  errors: KeysFileError[];
  /**
   * The keys of `login` (any case) with every check made — the ed25519 curve point decoded and not of small
   * order, once per distinct key, on first use — or, when one of them fails it, why, at its line; undefined
   * for a login the file does not list. Use no key of a login before this said `ok`.
   */
  keysOf(login: string): CheckedLoginKeys | undefined;
}

/**
 * `parseKeysFile` without the ed25519 curve point check (a point decompression per key, most of the cost of
 * a large file): `keysOf` makes it for the logins something is sealed to. Every other error is found here.
 */
export function scanKeysFile(text: string): KeysFileScan {
  const { file, where } = readKeysFile(text, false);
  const logins = new Map([...file.logins].map(([lower, entry]) => [lower, entry.login]));
  const problems = new Map<string, string | null>();
  const problemOf = (key: SshPublicKey): string | null => {
    let problem = problems.get(key.text);
    if (problem === undefined) {
      const decoded = decodeSshPublicKeyBlob(key.blob, key.type);
      problem = decoded.ok ? null : decoded.message;
      problems.set(key.text, problem);
    }
    return problem;
  };
  const checked = new Map<string, CheckedLoginKeys>();
  return {
    logins,
    skipped: file.skipped,
    errors: file.errors,
    keysOf(login) {
      const lower = login.toLowerCase();
      const entry = file.logins.get(lower);
      if (!entry) return undefined;
      let out = checked.get(lower);
      if (!out) {
        const errors: KeysFileError[] = [];
        for (const key of entry.keys) {
          const problem = problemOf(key);
          const at = where.get(key) as KeyPlace;
          if (problem)
            errors.push({
              ...at.position(),
              login: entry.login,
              message: `${entry.login}: ${at.label}: ${problem}`,
            });
        }
        out =
          errors.length > 0
            ? { ok: false, login: entry.login, errors }
            : { ok: true, login: entry.login, keys: entry.keys };
        checked.set(lower, out);
      }
      return out;
    },
  };
}

/** Where a key is: `position` is worked out only for an error (the YAML loader's fast path keeps none). */
interface KeyPlace {
  position: () => Position;
  label: string;
}

/**
 * Reads a keys file; without `checkPoint`, ed25519 keys are accepted without their curve point check, and
 * must be checked before use (`where` says where each accepted key is, for that check's error).
 */
function readKeysFile(
  text: string,
  checkPoint: boolean,
): { file: KeysFile; where: Map<SshPublicKey, KeyPlace> } {
  const where = new Map<SshPublicKey, KeyPlace>();
  const loaded = loadYaml(text, { scalars: 'strings', maxBytes: 1024 * 1024, maxDepth: 4 });
  const result: KeysFile = { logins: new Map(), skipped: [], errors: [] };
  if (loaded.errors.length > 0) {
    result.errors.push(...loaded.errors.map(({ line, column, message }) => ({ line, column, message })));
    return { file: result, where };
  }
  const value = loaded.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    result.errors.push({
      ...loaded.locate([]),
      message: 'a keys file is a YAML map of GitHub login to a list of SSH public key lines',
    });
    return { file: result, where };
  }

  for (const [login, entry] of Object.entries(value as Record<string, unknown>)) {
    const at = (path: PathSegment[]) => loaded.locate([login, ...path]);
    const fail = (path: PathSegment[], message: string) =>
      result.errors.push({ ...at(path), login, message: `${login}: ${message}` });
    if (!LOGIN.test(login)) {
      result.errors.push({
        ...loaded.locateKey([login]),
        login,
        message: `${JSON.stringify(login)} is not a GitHub login (letters, digits and single hyphens, at most 39)`,
      });
      continue;
    }
    const lower = login.toLowerCase();
    const existing = result.logins.get(lower);
    if (existing) {
      fail([], `listed twice (also as ${existing.login}; logins are case-insensitive)`);
      continue;
    }

    const before = result.errors.length;
    // Each candidate: the text of one key line and where to point at it.
    const candidates: { text: string; path: PathSegment[]; label: string }[] = [];
    if (typeof entry === 'string') {
      entry.split('\n').forEach((raw, i) => {
        const line = raw.replace(/\r$/, '');
        if (line.trim() === '' || line.trimStart().startsWith('#')) return;
        candidates.push({ text: line, path: [], label: `line ${i + 1} of the keys` });
      });
    } else if (Array.isArray(entry)) {
      entry.forEach((item, i) => {
        if (typeof item !== 'string') fail([i], `key ${i + 1} must be a key line (a string)`);
        else candidates.push({ text: item, path: [i], label: `key ${i + 1}` });
      });
    } else {
      fail([], 'must be a list of SSH public key lines, or one multi-line string of them');
      continue;
    }

    const keys: SshPublicKey[] = [];
    for (const c of candidates) {
      const r = parseKeyLine(c.text, checkPoint);
      if (r.ok) {
        if (keys.some((k) => k.text === r.key.text)) fail(c.path, `${c.label}: the same key is listed twice`);
        else {
          keys.push(r.key);
          if (!checkPoint) where.set(r.key, { position: () => at(c.path), label: c.label });
        }
      } else if (r.reason === 'unsupported-type') {
        result.skipped.push({
          ...at(c.path),
          login,
          keyType: r.keyType ?? '',
          message: `${login}: ${c.label}: ${r.message}`,
        });
      } else {
        fail(c.path, `${c.label}: ${r.message}`);
      }
    }
    if (keys.length > MAX_KEYS_PER_LOGIN)
      fail([], `has ${keys.length} keys; at most ${MAX_KEYS_PER_LOGIN} are allowed per login`);
    if (keys.length === 0 && result.errors.length === before)
      fail(
        [],
        candidates.length === 0
          ? 'has no keys'
          : `has no key age can encrypt to (${UNSUPPORTED_HINT}; add one with ssh-keygen -t ed25519)`,
      );
    result.logins.set(lower, { login, keys });
  }
  return { file: result, where };
}
