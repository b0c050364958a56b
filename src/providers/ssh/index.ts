// SSH: an OpenSSH user certificate for each of the requester's public keys, signed by the CA whose private
// key is the file named by TIMEBOX_SSH_<CA>_CA_KEY, valid exactly for the grant window, key ID = the
// request path (so every sshd log line names the request), a random serial, principals and options from the
// role. Early revocation adds the serials to the OpenSSH key revocation list at TIMEBOX_SSH_<CA>_KRL
// (sshd's RevokedKeys). The certificates issued are recorded beside the KRL (`<krl>.timebox.json`), which is
// what `list` reads. All signing and revoking is done by Debian's ssh-keygen; nothing is hand-rolled.
//
// Both files are shared by every process that revokes (serve, an expire run, replicas), and sshd trusts
// the KRL: an empty one revokes nothing, a truncated one refuses everyone. So every change of either takes
// the lock `<krl>.lock` (./lock.ts), is made on a copy that is fsynced and renamed over the file
// (./replace.ts; `ssh-keygen -k -u` itself rewrites in place), and the serials are checked in the KRL
// after the rename.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Clock } from '../../core/clock.js';
import { parseSshPublicKey } from '../../creds/ssh-keys.js';
import { clockOf, type Tag, tagFor, taggedAccess } from '../common.js';
import type {
  GrantOutcome,
  GrantSpec,
  ManagedAccess,
  Provider,
  ProviderTarget,
  RevokeOutcome,
} from '../types.js';
import { certificateOptions, roleOf, SshError, sshDefinition, stamp } from './definition.js';
import { type Held, withLock } from './lock.js';
import { NotSynced, replaceFile } from './replace.js';

// What tests import from here (the pure parts live in definition.ts).
export { certificateOptions, SshError };

const run = promisify(execFile);
/** ssh-keygen while holding the KRL's lock: a hung one must not hold it forever. */
const keygen = (args: string[]) => run('ssh-keygen', args, { timeout: 30_000 });
/** A request path as key ID: what request files may be called (no spaces, quotes or control characters). */
const KEY_ID = /^[A-Za-z0-9._/@-]{1,300}$/;
const SERIAL = /^serial:([1-9][0-9]{0,18})$/;

/** One certificate in the registry: its grant's tag (the wire format: `owner` is the access repo). */
interface Issued extends Tag {
  requester: string;
  /** The certificate line, kept to verify its revocation with `ssh-keygen -Q`. */
  certificate: string;
  revoked?: string;
}

interface Registry {
  version: 1;
  certificates: Record<string, Issued>;
}

export function caEnv(ca: string, what: 'CA_KEY' | 'KRL'): string {
  return `TIMEBOX_SSH_${ca.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_${what}`;
}

/** What went wrong in a child process: its stderr, else the first line of the error. */
function reason(err: unknown): string {
  const stderr = String((err as { stderr?: string }).stderr ?? '').trim();
  return stderr || (err as Error).message.split('\n')[0] || String(err);
}

/**
 * Checks each serial in the KRL now in place: `ssh-keygen -Q` refuses its certificate, as sshd does (the
 * registry holds the certificate of every serial Timebox issued); a serial the registry does not know
 * must be listed under this CA by `ssh-keygen -Q -l`.
 */
async function verify(serials: string[], r: Registry, krl: string, caFile: string, dir: string) {
  try {
    const certs = new Map<string, string>();
    for (const s of serials) {
      const c = r.certificates[s];
      if (!c) continue;
      certs.set(s, join(dir, `cert-${s}.pub`));
      await writeFile(join(dir, `cert-${s}.pub`), `${c.certificate}\n`);
    }
    // -Q exits 1 when it finds a revoked key: the answer is in its output, one line per file.
    const out =
      certs.size === 0
        ? []
        : (
            await keygen(['-Q', '-f', krl, ...certs.values()]).catch((e: { stdout?: string }) => ({
              stdout: e.stdout ?? '',
            }))
          ).stdout.split('\n');
    const refused = (file: string) =>
      out.some((l) => (l.startsWith(`${file} (`) || l.startsWith(`${file}:`)) && l.endsWith(': REVOKED'));
    const unknown = serials.filter((s) => !certs.has(s));
    const listed =
      unknown.length === 0
        ? () => true
        : listedSerials((await keygen(['-Q', '-l', '-f', krl])).stdout, await fingerprint(caFile));
    const missing = serials.filter((s) => {
      const file = certs.get(s);
      return file === undefined ? !listed(BigInt(s)) : !refused(file);
    });
    if (missing.length > 0) throw new Error(`ssh-keygen -Q does not find serial ${missing.join(', ')}`);
  } catch (err) {
    throw new SshError(`revoking serial ${serials.join(', ')} is not verified in ${krl}: ${reason(err)}`);
  }
}

/** The SHA256 fingerprint of a public key file, as `ssh-keygen -Q -l` names the CA. */
async function fingerprint(pubFile: string): Promise<string> {
  return (await keygen(['-l', '-E', 'sha256', '-f', pubFile])).stdout.split(' ')[1] ?? '';
}

/**
 * Which serials a KRL revokes for the CA with fingerprint `fp`, from `ssh-keygen -Q -l`: sections start
 * with `# CA key <type> <fingerprint>`, then `serial: N` or `serial: N-M` lines.
 */
export function listedSerials(listing: string, fp: string): (serial: bigint) => boolean {
  const ranges: [bigint, bigint][] = [];
  let ours = false;
  for (const line of listing.split('\n')) {
    // Any other section (a wildcard CA, explicit keys, hashes) is not this CA's serials.
    if (line.startsWith('#')) ours = line.startsWith('# CA key ') && line.trim().split(' ').at(-1) === fp;
    const m = /^serial: ([0-9]+)(?:-([0-9]+))?$/.exec(line.trim());
    if (ours && m) ranges.push([BigInt(m[1] as string), BigInt(m[2] ?? (m[1] as string))]);
  }
  return (serial) => ranges.some(([lo, hi]) => lo <= serial && serial <= hi);
}

export const ssh: Provider = {
  ...sshDefinition,

  async connect(resource, env, context) {
    const ca = String(resource.ca);
    const keyVar = caEnv(ca, 'CA_KEY');
    const krlVar = caEnv(ca, 'KRL');
    const caKey = env[keyVar];
    const krl = env[krlVar];
    if (!caKey) throw new SshError(`${keyVar} is not set: the file holding the private key of CA \`${ca}\``);
    if (!krl) throw new SshError(`${krlVar} is not set: the key revocation list sshd reads (RevokedKeys)`);
    let caPublic: string;
    try {
      caPublic = (await run('ssh-keygen', ['-y', '-f', caKey])).stdout.trim();
    } catch (err) {
      throw new SshError(
        `cannot read the CA key ${keyVar}=${caKey}: ${(err as Error).message.split('\n')[0]}`,
      );
    }
    const clock = clockOf(context);
    if (!existsSync(krl))
      await withLock(
        `${krl}.lock`,
        async (held) => {
          if (!existsSync(krl))
            await replaceFile(krl, (tmp) => keygen(['-k', '-f', tmp]).then(() => {}), held);
        },
        { clock },
      );
    return target({ ca, caKey, caPublic, krl, registryFile: `${krl}.timebox.json`, clock });
  },
};

/** One CA's target: its key, the KRL sshd reads, and the registry of issued certificates beside it. */
interface Ca {
  ca: string;
  caKey: string;
  caPublic: string;
  krl: string;
  registryFile: string;
  clock: Clock;
}

/** The registry; never read as empty when it exists but cannot be read (an update would erase it). */
async function readRegistry(registryFile: string): Promise<Registry> {
  let text: string;
  try {
    text = await readFile(registryFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, certificates: {} };
    throw new SshError(`cannot read ${registryFile}: ${(err as Error).message}`);
  }
  try {
    const r = JSON.parse(text) as Registry;
    if (typeof r?.certificates !== 'object' || r.certificates === null) throw new Error('no certificates');
    return r;
  } catch {
    throw new SshError(
      `${registryFile} is not a certificate registry (${text.length} bytes): restore it from a backup; ` +
        'Timebox does not overwrite a registry it cannot read',
    );
  }
}

function writeRegistry(registryFile: string, r: Registry, held: Held): Promise<void> {
  return replaceFile(registryFile, (tmp) => writeFile(tmp, JSON.stringify(r, null, 2), { flag: 'wx' }), held);
}

/**
 * Adds the serials to the KRL: ssh-keygen updates a copy, which replaces the KRL whole (never an empty or
 * half-written KRL, whatever fails or is killed). Called holding the lock.
 */
async function revokeSerials(c: Ca, serials: string[], r: Registry, held: Held): Promise<void> {
  if (serials.length === 0) return;
  const dir = await mkdtemp(join(tmpdir(), 'timebox-krl-'));
  try {
    const caFile = join(dir, 'ca.pub');
    await writeFile(caFile, `${c.caPublic}\n`);
    await writeFile(join(dir, 'spec'), serials.map((s) => `serial: ${s}\n`).join(''));
    // A symlinked KRL: the file it points to is replaced, in its own directory.
    let real = c.krl;
    try {
      real = await realpath(c.krl);
      await replaceFile(
        real,
        async (tmp) => {
          await copyFile(real, tmp, constants.COPYFILE_EXCL);
          await keygen(['-k', '-u', '-s', caFile, '-f', tmp, join(dir, 'spec')]);
        },
        held,
      );
    } catch (err) {
      const state = err instanceof NotSynced ? 'not known to be durable' : 'unchanged';
      throw new SshError(
        `revoking serial ${serials.join(', ')} failed, ${c.krl} is ${state}: ${reason(err)}`,
      );
    }
    await verify(serials, r, real, caFile, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Signs a certificate for each of the requester's keys, valid for the grant's window. */
async function sign(c: Ca, spec: GrantSpec): Promise<[string, Issued][]> {
  const options = certificateOptions(roleOf(spec));
  if (!KEY_ID.test(spec.file)) throw new SshError(`refusing the key ID ${JSON.stringify(spec.file)}`);
  const keys = (spec.publicKeys ?? []).map((line) => {
    const parsed = parseSshPublicKey(line);
    if (!parsed.ok) throw new SshError(`refusing a public key of ${spec.requester}: ${parsed.message}`);
    return parsed.key.text;
  });
  if (keys.length === 0) throw new SshError(`${spec.requester} has no SSH public key to certify`);
  const dir = await mkdtemp(join(tmpdir(), 'timebox-cert-'));
  const issued: [string, Issued][] = [];
  try {
    for (const [i, key] of keys.entries()) {
      const serial = (BigInt(`0x${randomBytes(8).toString('hex')}`) & 0x7fffffffffffffffn || 1n).toString();
      const file = join(dir, `key${i}.pub`);
      await writeFile(file, `${key} ${spec.requester}\n`);
      await run(
        'ssh-keygen',
        [
          '-q',
          '-s',
          c.caKey,
          '-I',
          spec.file,
          '-V',
          `${stamp(spec.startsAt)}:${stamp(spec.expiresAt)}`,
          '-z',
          serial,
          ...options,
          file,
        ],
        { env: { ...process.env, TZ: 'UTC' } },
      );
      const certificate = (await readFile(join(dir, `key${i}-cert.pub`), 'utf8')).trim();
      issued.push([serial, { ...tagFor(spec), requester: spec.requester, certificate }]);
    }
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '').trim();
    throw new SshError(
      `signing ${spec.file} with CA \`${c.ca}\` failed: ${stderr || (err as Error).message.split('\n')[0]}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return issued;
}

function target(c: Ca): ProviderTarget {
  const pending = new Set<Promise<unknown>>();
  /** Runs `fn` holding `<krl>.lock`: the one writer of the KRL and the registry, across processes. */
  const locked = <T>(fn: (held: Held) => Promise<T>): Promise<T> => {
    const p = withLock(`${c.krl}.lock`, fn, { clock: c.clock });
    const settled = p.catch(() => undefined);
    pending.add(settled);
    void settled.then(() => pending.delete(settled));
    return p;
  };

  return {
    async list(): Promise<ManagedAccess[]> {
      const r = await readRegistry(c.registryFile);
      return Object.entries(r.certificates)
        .filter(([, cert]) => !cert.revoked)
        .map(([serial, cert]) => taggedAccess('ssh', `serial:${serial}`, cert));
    },

    async grant(spec: GrantSpec): Promise<GrantOutcome> {
      const issued = await sign(c, spec);
      // One set of certificates per request: the ones issued before for it are revoked (a re-grant).
      await locked(async (held) => {
        const r = await readRegistry(c.registryFile);
        const earlier = Object.entries(r.certificates)
          .filter(([, cert]) => !cert.revoked && cert.owner === spec.accessRepoId && cert.file === spec.file)
          .map(([s]) => s);
        for (const [s, cert] of issued) r.certificates[s] = cert;
        await writeRegistry(c.registryFile, r, held);
        if (earlier.length === 0) return;
        await revokeSerials(c, earlier, r, held);
        for (const s of earlier) (r.certificates[s] as Issued).revoked = c.clock.now().toISOString();
        await writeRegistry(c.registryFile, r, held);
      });
      return {
        principal: issued.map(([s]) => `serial:${s}`).join(','),
        expiresAt: spec.expiresAt.toISOString(),
        secret: `${issued.map(([, cert]) => cert.certificate).join('\n')}\n`,
      };
    },

    async revoke(access: ManagedAccess): Promise<RevokeOutcome> {
      const serial = SERIAL.exec(access.principal)?.[1];
      if (!serial)
        throw new SshError(
          `refusing to revoke ${JSON.stringify(access.principal)}: not a certificate serial`,
        );
      await locked(async (held) => {
        const r = await readRegistry(c.registryFile);
        await revokeSerials(c, [serial], r, held);
        const cert = r.certificates[serial];
        if (!cert) return;
        cert.revoked = c.clock.now().toISOString();
        await writeRegistry(c.registryFile, r, held);
      });
      // Open SSH sessions belong to the hosts: the certificate can no longer open new ones.
      return { principal: access.principal, sessionsEnded: 0, activity: null };
    },

    async close() {
      await Promise.all(pending);
    },
  };
}
