import type { ProviderDefinition } from '../types.js';

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
} satisfies ProviderDefinition;
