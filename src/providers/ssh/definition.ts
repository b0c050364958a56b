// The ssh provider's registry entry: its settings in policy files, the ssh-keygen options of a grant, and its
// preview. Pure: signing and revoking (ssh-keygen, the KRL) are in index.ts.
import { type FromSchema, ProviderError, roleSettingsOf } from '../common.js';
import type { GrantSpec, PermissionPreview, ProviderEntry } from '../types.js';

const PRINCIPAL = /^[a-z_][a-z0-9_-]{0,31}$/;
const EXTENSIONS = new Set([
  'permit-X11-forwarding',
  'permit-agent-forwarding',
  'permit-port-forwarding',
  'permit-pty',
  'permit-user-rc',
]);
const ADDRESS = /^[0-9a-fA-F.:]+(\/[0-9]{1,3})?$/;

export class SshError extends ProviderError {}

export const sshDefinition = {
  id: 'ssh',
  summary: 'OpenSSH user certificates valid exactly for the access window',
  resourceSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['ca'],
    properties: {
      ca: {
        type: 'string',
        pattern: '^[a-z0-9][a-z0-9_]{0,40}$',
        description: 'CA name; the key is the file named by TIMEBOX_SSH_<CA>_CA_KEY.',
        errorMessage: { pattern: 'must be a CA name (lower-case letters, digits and _)' },
      },
      hosts: { type: 'array', items: { type: 'string' }, description: 'Hosts shown to the requester.' },
    },
  },
  roleSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['principals'],
    properties: {
      description: { type: 'string' },
      principals: {
        type: 'array',
        minItems: 1,
        uniqueItems: true,
        items: {
          type: 'string',
          pattern: '^[a-z_][a-z0-9_-]{0,31}$',
          errorMessage: { pattern: 'must be a Unix user name' },
        },
      },
      extensions: {
        type: 'array',
        uniqueItems: true,
        items: {
          enum: [
            'permit-X11-forwarding',
            'permit-agent-forwarding',
            'permit-port-forwarding',
            'permit-pty',
            'permit-user-rc',
          ],
        },
        default: ['permit-pty'],
      },
      force_command: { type: 'string', minLength: 1 },
      source_address: {
        type: 'array',
        minItems: 1,
        items: { type: 'string', pattern: '^[0-9a-fA-F.:]+(/[0-9]{1,3})?$' },
      },
    },
  },
  needsPublicKeys: true,

  targetKey(resource) {
    return `ssh:${String(resource.ca)}`;
  },

  preview(spec): PermissionPreview {
    const role = roleOf(spec);
    const opts = certificateOptions(role);
    return {
      summary: `an SSH certificate for each of ${spec.requester}'s keys, as ${role.principals.join(', ')}, valid ${spec.startsAt.toISOString()} to ${spec.expiresAt.toISOString()}`,
      statements: [
        `ssh-keygen -s <${String(spec.resource.ca)} CA> -I ${spec.file} -V ${stamp(spec.startsAt)}:${stamp(spec.expiresAt)} -z <serial> ${opts.join(' ')} <key>.pub`,
      ],
    };
  },

  load: async () => (await import('./index.js')).ssh,
} as const satisfies ProviderEntry;

/** An ssh role's settings, as its schema says. */
export type SshRole = FromSchema<typeof sshDefinition.roleSchema>;

export const roleOf = (spec: Pick<GrantSpec, 'roleSettings'>): SshRole => roleSettingsOf(sshDefinition, spec);

/** `YYYYMMDDHHMMSS` in UTC, as ssh-keygen -V reads it with TZ=UTC. */
export function stamp(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** The ssh-keygen options for a role, every value checked again here (they are arguments, never a shell). */
export function certificateOptions(role: SshRole): string[] {
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
