// Used versus granted (src/providers/usage.ts): which statements wrote, and the note that a role's write
// rights went unused — said only when the provider could tell writes from reads and none was made, never
// for a role that cannot write or where nothing was captured.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mysqlDefinition } from '../../src/providers/mysql/definition.js';
import { postgresDefinition } from '../../src/providers/postgres/definition.js';
import type { Activity } from '../../src/providers/types.js';
import { isWriteSql, UNUSED_WRITE, usageNote, withUsage } from '../../src/providers/usage.js';

describe('isWriteSql', () => {
  it('reads are reads, writes are writes, whatever the case and comments', () => {
    for (const sql of [
      'SELECT total FROM orders WHERE id = $1',
      'select * from t for update',
      'SHOW search_path',
      'EXPLAIN SELECT 1',
      'WITH x AS (SELECT 1) SELECT * FROM x',
      'COPY orders TO STDOUT',
      'BEGIN',
      'SET statement_timeout = $1',
      'select',
      'show databases',
    ])
      expect(isWriteSql(sql), sql).toBe(false);
    for (const sql of [
      'INSERT INTO orders VALUES ($1)',
      '/* app */ update orders set total = $1',
      '-- fix\nDELETE FROM orders',
      'WITH moved AS (DELETE FROM a RETURNING *) INSERT INTO b SELECT * FROM moved',
      'COPY orders FROM STDIN',
      'CREATE TABLE t (id int)',
      'SELECT * INTO backup FROM orders',
      'TRUNCATE orders',
      'CALL fix_orders()',
      'insert select',
      'update multi',
    ])
      expect(isWriteSql(sql), sql).toBe(true);
  });
});

const activity = (writes: number | undefined): Activity => ({
  summary: '3 statements, 2 rows',
  statements: [],
  ...(writes === undefined ? {} : { writes }),
});

describe('usageNote', () => {
  it('speaks only for a role that may write, whose writes were counted, and none made', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(true, false, null),
        fc.option(fc.option(fc.nat(5), { nil: undefined }), { nil: null }),
        (mayWrite, writes) => {
          const a = writes === null ? null : activity(writes);
          const note = usageNote(mayWrite, a);
          const expected = mayWrite === true && a !== null && writes === 0;
          expect(note !== null).toBe(expected);
          const after = withUsage(mayWrite, a);
          if (expected)
            expect(after?.summary).toBe(`3 statements, 2 rows; write rights granted, ${UNUSED_WRITE}`);
          else expect(after).toBe(a);
        },
      ),
    );
  });

  it('providers read write rights from role settings', () => {
    expect(postgresDefinition.mayWrite({ grant: ['app'], read_only: true })).toBe(false);
    expect(postgresDefinition.mayWrite({ grant: ['app'] })).toBe(true);
    expect(mysqlDefinition.mayWrite({ privileges: ['SELECT'] })).toBe(false);
    expect(mysqlDefinition.mayWrite({ privileges: ['select', 'update'] })).toBe(true);
    expect(mysqlDefinition.mayWrite({ privileges: ['SELECT', 'EXECUTE'] })).toBe(null);
  });
});
