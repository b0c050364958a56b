// `rulesFor` looks only at rules whose resource patterns could match (their literal start begins the id):
// it must give exactly the rules a test of every pattern gives, in policy order, for any patterns and ids.
import fc from 'fast-check';
import { minimatch } from 'minimatch';
import { describe, expect, it } from 'vitest';
import type { Policies, Rule } from '../../src/core/model.js';
import { literalPrefix, rulesFor } from '../../src/core/policy.js';

const pattern = fc
  .array(
    fc.constantFrom(
      'a',
      'b',
      'ab',
      '-',
      '.',
      '*',
      '**',
      '?',
      '[ab]',
      '[!a]',
      '{a,b}',
      '+(a)',
      '@(b)',
      '!(a)',
      '\\*',
      '/',
      'db',
    ),
    {
      minLength: 1,
      maxLength: 5,
    },
  )
  .map((parts) => parts.join(''));
const id = fc.array(fc.constantFrom('a', 'b', '-', '.', 'db', '*'), { maxLength: 6 }).map((p) => p.join(''));

function policiesOf(patterns: string[][]): Policies {
  const rules = patterns.map(
    (resources, i) => ({ name: `r${i}`, resources, roles: null }) as unknown as Rule,
  );
  return { rules, resources: new Map(), schedules: new Map() } as unknown as Policies;
}

describe('rulesFor', () => {
  it('gives the rules whose patterns match, in policy order, whatever the patterns', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(pattern, { minLength: 1, maxLength: 3 }), { maxLength: 12 }),
        fc.array(id, { minLength: 1, maxLength: 8 }),
        (patterns, ids) => {
          const policies = policiesOf(patterns);
          for (const resource of ids) {
            const expected = policies.rules.filter((r) =>
              r.resources.some((p) => minimatch(resource, p, { dot: true, nonegate: true, nocomment: true })),
            );
            expect(rulesFor(policies, resource).map((r) => r.name)).toEqual(expected.map((r) => r.name));
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('takes a pattern without glob syntax whole, and stops at the first glob character', () => {
    expect(literalPrefix('team0-orders-db')).toBe('team0-orders-db');
    expect(literalPrefix('team0-*-db')).toBe('team0-');
    expect(literalPrefix('{a,b}-db')).toBe('');
    expect(literalPrefix('a\\*')).toBe('a');
    expect(literalPrefix('x/y')).toBe('');
  });
});
