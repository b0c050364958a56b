// The postgres role schema at check time: built-in roles that reach the database host, every table or other
// sessions are refused in `grant:` with the policy's file:line, and `timebox check` exits 2.
import { describe, expect, it } from 'vitest';
import { loadPolicies } from '../../src/core/policy.js';
import { ALLOWED_BUILTIN_ROLES, REFUSED_BUILTIN_ROLES } from '../../src/providers/postgres/definition.js';
import { providerDefinitions } from '../../src/providers/registry.js';
import { exampleRepo, run, write } from '../helpers/repo.js';

const policy = (grant: string) => `resources:
  orders-db:
    provider: postgres
    connection: orders
    roles:
      read-only: { grant: [orders_read] }
      ops:
        grant: [orders_read, ${grant}]
`;

const errorsOf = (grant: string) =>
  loadPolicies([{ path: 'policies/db.yaml', text: policy(grant) }], providerDefinitions).errors;

describe('postgres role schema: dangerous roles', () => {
  it('pg_execute_server_program is refused at its file:line, saying why', () => {
    expect(errorsOf('pg_execute_server_program')).toEqual([
      {
        file: 'policies/db.yaml',
        line: 8,
        column: 30,
        path: "$.resources['orders-db'].roles.ops.grant[1]",
        message:
          '`pg_execute_server_program` is never granted: it runs programs on the database host (COPY … PROGRAM) (postgres role settings)',
      },
    ]);
  });

  it.each(Object.keys(REFUSED_BUILTIN_ROLES))('%s is refused', (role) => {
    expect(errorsOf(role)).toEqual([
      expect.objectContaining({
        line: 8,
        message: expect.stringContaining(`\`${role}\` is never granted: it `),
      }),
    ]);
  });

  it('a built-in role nobody reviewed (one a later PostgreSQL adds) is refused too', () => {
    expect(errorsOf('pg_signal_autovacuum_worker')).toEqual([
      expect.objectContaining({
        line: 8,
        message: expect.stringContaining(
          '"pg_signal_autovacuum_worker" is a built-in role Timebox does not grant',
        ),
      }),
    ]);
  });

  it.each(ALLOWED_BUILTIN_ROLES)('the monitoring role %s may be granted', (role) => {
    expect(errorsOf(role)).toEqual([]);
  });

  it('ordinary group roles are unaffected', () => {
    expect(errorsOf('orders_write')).toEqual([]);
    expect(errorsOf('pgadmin_read')).toEqual([]);
  });

  it('`timebox check` fails with exit 2 and the file:line', async () => {
    const dir = exampleRepo();
    write(dir, 'policies/ops.yaml', policy('pg_write_server_files').replace('orders-db', 'ops-db'));
    write(
      dir,
      'requests/alice/orders.yaml',
      'requester: alice\nresource: orders-db\nrole: read-only\nduration: 2h\nreason: Reproduce BUG-1234, EU order totals off by VAT\n',
    );
    const r = await run(['check', 'requests/alice/orders.yaml'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'policies/ops.yaml:8:30: `pg_write_server_files` is never granted: it writes files on the database host as the server',
    );
  });
});
