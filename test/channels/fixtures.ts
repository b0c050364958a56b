// Messages for the channel tests: one request moving through its life.
import type { ChannelMessage, NotifyEvent } from '../../src/channels/message.js';

export function message(event: NotifyEvent, extra: Partial<ChannelMessage> = {}): ChannelMessage {
  const titles: Record<NotifyEvent, string> = {
    opened: 'Access requested: alice → prod-db (read) for 2h',
    approved: 'Access approved: alice → prod-db (read)',
    granted: 'Access granted: alice → prod-db (read) until 14:00 UTC',
    reminder: 'Access to prod-db ends in 15 minutes',
    expired: 'Access expired: alice → prod-db (read)',
    revocation_failing: 'Revocation failing: alice → prod-db (read)',
    break_glass: 'Break-glass access: alice → prod-db (read)',
    unratified: 'Break-glass access not ratified: alice → prod-db (read)',
  };
  return {
    key: 'acme/access#42',
    event,
    resource: 'prod-db',
    requester: 'alice',
    title: titles[event],
    text: `Request *#42* by alice: read on prod-db.\nReason: incident INC-7 investigation.`,
    fields: { Role: 'read', Until: '2026-12-01T14:00:00Z', Approvers: 'bob' },
    url: 'https://github.com/acme/access/pull/42',
    ...extra,
  };
}

export const LIFE: NotifyEvent[] = ['opened', 'approved', 'granted', 'expired'];
