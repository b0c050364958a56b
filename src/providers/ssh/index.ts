// SSH: an OpenSSH user certificate for each of the requester's public keys, signed by the CA whose private
// key is the file named by TIMEBOX_SSH_<CA>_CA_KEY, valid exactly for the grant window, key ID = the
// request path (so every sshd log line names the request), a random serial, principals and options from the
// role. Early revocation adds the serials to the OpenSSH key revocation list at TIMEBOX_SSH_<CA>_KRL
// (sshd's RevokedKeys). The certificates issued are recorded beside the KRL (`<krl>.timebox.json`), which is
// what `list` reads. All signing and revoking is done by Debian's ssh-keygen; nothing is hand-rolled.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseSshPublicKey } from '../../creds/ssh-keys.js';
import type {
  GrantOutcome,
  GrantSpec,
  ManagedAccess,
  PermissionPreview,
  Provider,
  ProviderTarget,
  RevokeOutcome,
} from '../types.js';
import { sshDefinition } from './definition.js';

const run = promisify(execFile);
const PRINCIPAL = /^[a-z_][a-z0-9_-]{0,31}$/;
const EXTENSIONS = new Set([
  'permit-X11-forwarding',
  'permit-agent-forwarding',
  'permit-port-forwarding',
  'permit-pty',
  'permit-user-rc',
]);
const ADDRESS = /^[0-9a-fA-F.:]+(\/[0-9]{1,3})?$/;
/** A request path as key ID: what request files may be called (no spaces, quotes or control characters). */
const KEY_ID = /^[A-Za-z0-9._/@-]{1,300}$/;
const SERIAL = /^serial:([1-9][0-9]{0,18})$/;

export class SshError extends Error {
  override name = 'SshError';
}

interface RoleSettings {
  principals: string[];
  extensions?: string[];
  force_command?: string;
  source_address?: string[];
}

interface Issued {
  owner: string;
  file: string;
  grant: string;
  requester: string;
  /** The role of the request (absent in tags written before 0.2). */
  role?: string;
  resource: string;
  expires: string;
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

/** `YYYYMMDDHHMMSS` in UTC, as ssh-keygen -V reads it with TZ=UTC. */
function stamp(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** The ssh-keygen options for a role, every value checked again here (they are arguments, never a shell). */
export function certificateOptions(role: RoleSettings): string[] {
  for (const p of role.principals)
    if (!PRINCIPAL.test(p)) throw new SshError(`refusing the principal ${JSON.stringify(p)}`);
  const out = ['-n', role.principals.join(','), '-O', 'clear'];
  for (const e of role.extensions ?? ['permit-pty']) {
    if (!EXTENSIONS.has(e)) throw new SshError(`refusing the extension ${JSON.stringify(e)}`);
    out.push('-O', e);
  }
  if (role.force_command !== undefined) {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses
    if (/[\u0000-\u001f\u007f]/.test(role.force_command) || role.force_command.length === 0)
      throw new SshError('refusing a force_command with control characters');
    out.push('-O', `force-command=${role.force_command}`);
  }
  if (role.source_address) {
    for (const a of role.source_address)
      if (!ADDRESS.test(a)) throw new SshError(`refusing the address ${JSON.stringify(a)}`);
    out.push('-O', `source-address=${role.source_address.join(',')}`);
  }
  return out;
}

export const ssh: Provider = {
  ...sshDefinition,
  needsPublicKeys: true,

  targetKey(resource) {
    return `ssh:${String(resource.ca)}`;
  },

  preview(spec): PermissionPreview {
    const role = spec.roleSettings as unknown as RoleSettings;
    const opts = certificateOptions(role);
    return {
      summary: `an SSH certificate for each of ${spec.requester}'s keys, as ${role.principals.join(', ')}, valid ${spec.startsAt.toISOString()} to ${spec.expiresAt.toISOString()}`,
      statements: [
        `ssh-keygen -s <${String(spec.resource.ca)} CA> -I ${spec.file} -V ${stamp(spec.startsAt)}:${stamp(spec.expiresAt)} -z <serial> ${opts.join(' ')} <key>.pub`,
      ],
    };
  },

  async connect(resource, env) {
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
    if (!existsSync(krl)) await run('ssh-keygen', ['-k', '-f', krl]);
    return target(ca, caKey, caPublic, krl);
  },
};

function target(ca: string, caKey: string, caPublic: string, krl: string): ProviderTarget {
  const registryFile = `${krl}.timebox.json`;
  let writing: Promise<unknown> = Promise.resolve();
  const read = async (): Promise<Registry> => {
    try {
      return JSON.parse(await readFile(registryFile, 'utf8')) as Registry;
    } catch {
      return { version: 1, certificates: {} };
    }
  };
  /** Read, change and write the registry, one change at a time. */
  const update = <T>(change: (r: Registry) => T | Promise<T>): Promise<T> => {
    const next = writing.then(async () => {
      const r = await read();
      const out = await change(r);
      await writeFile(`${registryFile}.tmp`, JSON.stringify(r, null, 2));
      await rename(`${registryFile}.tmp`, registryFile);
      return out;
    });
    writing = next.catch(() => undefined);
    return next;
  };

  const revokeSerials = async (serials: string[]): Promise<void> => {
    if (serials.length === 0) return;
    const dir = await mkdtemp(join(tmpdir(), 'timebox-krl-'));
    try {
      await writeFile(join(dir, 'ca.pub'), `${caPublic}\n`);
      await writeFile(join(dir, 'spec'), serials.map((s) => `serial: ${s}\n`).join(''));
      await run('ssh-keygen', ['-k', '-u', '-s', join(dir, 'ca.pub'), '-f', krl, join(dir, 'spec')]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
  const isRevoked = async (certificate: string): Promise<boolean> => {
    const dir = await mkdtemp(join(tmpdir(), 'timebox-krl-'));
    try {
      await writeFile(join(dir, 'cert.pub'), `${certificate}\n`);
      const r = await run('ssh-keygen', ['-Q', '-f', krl, join(dir, 'cert.pub')]).catch(
        (e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }),
      );
      return /REVOKED/.test(r.stdout);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  return {
    async list() {
      const r = await read();
      return Object.entries(r.certificates)
        .filter(([, c]) => !c.revoked)
        .map(([serial, c]) => ({
          owner: c.owner,
          provider: 'ssh',
          resourceId: c.resource,
          file: c.file,
          grantId: c.grant,
          requester: c.requester ?? null,
          role: c.role ?? null,
          principal: `serial:${serial}`,
          expiresAt: c.expires,
        }));
    },

    async grant(spec: GrantSpec): Promise<GrantOutcome> {
      const role = spec.roleSettings as unknown as RoleSettings;
      const options = certificateOptions(role);
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
          const serial = (
            BigInt(`0x${randomBytes(8).toString('hex')}`) & 0x7fffffffffffffffn || 1n
          ).toString();
          const file = join(dir, `key${i}.pub`);
          await writeFile(file, `${key} ${spec.requester}\n`);
          await run(
            'ssh-keygen',
            [
              '-q',
              '-s',
              caKey,
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
          issued.push([
            serial,
            {
              owner: spec.owner,
              file: spec.file,
              grant: spec.grantId,
              requester: spec.requester,
              role: spec.role,
              resource: spec.resourceId,
              expires: spec.expiresAt.toISOString(),
              certificate,
            },
          ]);
        }
      } catch (err) {
        const stderr = String((err as { stderr?: string }).stderr ?? '').trim();
        throw new SshError(
          `signing ${spec.file} with CA \`${ca}\` failed: ${stderr || (err as Error).message.split('\n')[0]}`,
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      // One set of certificates per request: the ones issued before for it are revoked (a re-grant).
      const earlier = await update((r) => {
        const old = Object.entries(r.certificates)
          .filter(([, c]) => !c.revoked && c.owner === spec.owner && c.file === spec.file)
          .map(([s]) => s);
        for (const [s, c] of issued) r.certificates[s] = c;
        return old;
      });
      await revokeSerials(earlier);
      await update((r) => {
        for (const s of earlier)
          if (r.certificates[s]) (r.certificates[s] as Issued).revoked = new Date().toISOString();
      });
      return {
        principal: issued.map(([s]) => `serial:${s}`).join(','),
        expiresAt: spec.expiresAt.toISOString(),
        secret: `${issued.map(([, c]) => c.certificate).join('\n')}\n`,
      };
    },

    async revoke(access: ManagedAccess): Promise<RevokeOutcome> {
      const serial = SERIAL.exec(access.principal)?.[1];
      if (!serial)
        throw new SshError(
          `refusing to revoke ${JSON.stringify(access.principal)}: not a certificate serial`,
        );
      const c = (await read()).certificates[serial];
      await revokeSerials([serial]);
      if (c && !(await isRevoked(c.certificate)))
        throw new SshError(
          `revoking serial ${serial} is not verified: ssh-keygen -Q does not find it in ${krl}`,
        );
      await update((r) => {
        if (r.certificates[serial]) (r.certificates[serial] as Issued).revoked = new Date().toISOString();
      });
      // Open SSH sessions belong to the hosts: the certificate can no longer open new ones.
      return { principal: access.principal, sessionsEnded: 0, activity: null };
    },

    async close() {
      await writing;
    },
  };
}
