// The summary comment for the issue 17 decisions: a step filled by on-call and a break-glass approval, rendered
// from real decisions.
import { describe, expect, it } from 'vitest';
import { decideRequest } from '../../src/core/decide.js';
import { loadPolicies } from '../../src/core/policy.js';
import { providerDefinitions } from '../../src/providers/registry.js';
import { renderComment } from '../../src/report/pull-request.js';
import { approve, input, pull, requestText } from '../helpers/core.js';
import { ORDERS_DB } from '../helpers/policies.js';

const SCHEDULE = `tz: UTC
layers:
  - name: weekly
    rotation: [alice, bob]
    turn: weekly
    handoff: "09:00"
    start: 2026-01-05T09:00:00Z
`;

const POLICY = `${ORDERS_DB}rules:
  - name: sre-read
    requesters: [alice, bob]
    resources: [orders-db]
    roles: [read-only]
    approvals:
      - { from: ["@acme/qa-leads"], count: 1, on_call: schedules/primary.yaml }
      - { from: ["@acme/dba"], count: 1 }
  - name: sre-incident
    requesters: [alice, bob]
    resources: [orders-db]
    roles: [read-write]
    break_glass: { max_duration: 1h, ratify_within: 4h }
    approvals:
      - { from: ["@acme/qa-leads"], count: 1 }
`;

const { policies, errors } = loadPolicies(
  [{ path: 'policies/sre.yaml', text: POLICY }],
  providerDefinitions,
  [{ path: 'schedules/primary.yaml', text: SCHEDULE }],
);

function render(role: string, fields: Record<string, string>, reviews = pull(), at = '2026-01-06T10:00:00Z') {
  const file = 'requests/alice/orders.yaml';
  const text = requestText({
    requester: 'alice',
    resource: 'orders-db',
    role,
    duration: '30m',
    reason: 'INC-7: EU orders stuck',
    ...fields,
  });
  const decision = decideRequest(file, text, input(policies, [], { at: new Date(at), pull: reviews }));
  return {
    decision,
    comment: renderComment({ decisions: [decision], previews: new Map(), headSha: 'abcdef1234' }),
  };
}

describe('summary comment', () => {
  it('shows a step filled because the requester is on call, with schedule, layer and end of shift', () => {
    expect(errors).toEqual([]);
    const { decision, comment } = render('read-only', {});
    expect(decision.status).toBe('pending');
    expect(comment).toContain(
      '| 1 ✅ | 1 of @acme/qa-leads or on call in `schedules/primary.yaml` | filled: @alice is on call (`schedules/primary.yaml`, weekly, until `2026-01-12T09:00:00Z`) |',
    );
    expect(comment).toContain('| 2 ⏳ | 1 of @acme/dba | — |');
  });

  it('off call (bob holds the next week), the same step waits for a human', () => {
    const { decision, comment } = render('read-only', {}, pull(), '2026-01-13T10:00:00Z');
    expect(decision.approvals?.steps[0]?.filled).toBeUndefined();
    expect(comment).toMatch(
      /\| 1 ⏳ \| 1 of @acme\/qa-leads or on call in `schedules\/primary.yaml` \| — \| @carol, @lead2 \|/,
    );
    expect(comment).not.toContain('filled:');
  });

  it('a break-glass approval says so, names the rule and the deadline, and lists what must ratify', () => {
    const { decision, comment } = render('read-write', { emergency: 'true', ticket: 'INC-7' });
    expect(decision.status).toBe('approved');
    expect(decision.break_glass?.rule).toBe('sre-incident');
    expect(comment).toContain(
      '> 🚨 **Break-glass** under rule **sre\\-incident**: approved before its approvals.',
    );
    expect(comment).toContain(`by \`${decision.break_glass?.ratify_by}\` (within 4h of the decision)`);
    expect(comment).toContain('| to ratify | needs | approved by | can approve |');
    expect(comment).toContain('| 1 ⏳ | 1 of @acme/qa-leads | — |');
  });

  it('an ordinary request shows no break-glass banner', () => {
    const { comment } = render('read-write', {}, pull([approve('carol')]));
    expect(comment).not.toContain('Break-glass');
    expect(comment).toContain('| step | needs |');
  });
});
