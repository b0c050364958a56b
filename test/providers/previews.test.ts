// What reviewers see before anything is granted: each provider's permission preview names the principal,
// shows the exact statement or command, and never a secret.
import { describe, expect, it } from 'vitest';
import { mysqlProvider } from '../../src/providers/mysql/index.js';
import { redis } from '../../src/providers/redis/index.js';
import { ssh } from '../../src/providers/ssh/index.js';
import type { GrantSpec } from '../../src/providers/types.js';

const base = {
  accessRepoId: 'root-commit',
  file: 'requests/alice/x.yaml',
  grantId: 'requests/alice/x.yaml@abc',
  requester: 'alice',
  role: 'r',
  startsAt: new Date('2026-12-01T09:00:00Z'),
  expiresAt: new Date('2026-12-01T11:00:00Z'),
};

describe('permission previews', () => {
  it('redis: the ACL SETUSER line, password masked', () => {
    const p = redis.preview({
      ...base,
      resourceId: 'cache',
      resource: { connection: 'cache' },
      roleSettings: { keys: ['orders:*'], commands: ['+@read'] },
    } as GrantSpec);
    expect(p.statements).toEqual([
      expect.stringMatching(
        /^ACL SETUSER tb_alice_[0-9a-f]{10} reset on #<sha256 of the password> resetkeys resetchannels -@all ~orders:\* \+@read -@admin -flushall -flushdb -swapdb$/,
      ),
    ]);
  });

  it('mysql: CREATE USER and each GRANT, password only as its hash, identifiers and wildcards escaped', () => {
    const p = mysqlProvider.preview({
      ...base,
      resourceId: 'shop',
      resource: { connection: 'shop' },
      roleSettings: { privileges: ['SELECT'], on: ['shop.orders', 'stats_eu.*'] },
    } as GrantSpec);
    expect(p.statements[0]).toMatch(
      /^CREATE USER 'tb_alice_[0-9a-f]{10}'@'%' IDENTIFIED BY PASSWORD '<hash of the password>' WITH MAX_USER_CONNECTIONS 2$/,
    );
    expect(p.statements.slice(1)).toEqual([
      expect.stringMatching(/^GRANT SELECT ON `shop`\.`orders` TO 'tb_alice_[0-9a-f]{10}'@'%'$/),
      expect.stringMatching(/^GRANT SELECT ON `stats\\_eu`\.\* TO 'tb_alice_[0-9a-f]{10}'@'%'$/),
    ]);
  });

  it('ssh: the ssh-keygen signing command with the window, key ID and options', () => {
    const p = ssh.preview({
      ...base,
      resourceId: 'app',
      resource: { ca: 'prod' },
      roleSettings: { principals: ['deploy'], extensions: ['permit-pty'] },
    } as GrantSpec);
    expect(p.statements).toEqual([
      'ssh-keygen -s <prod CA> -I requests/alice/x.yaml -V 20261201090000:20261201110000 -z <serial> -n deploy -O clear -O permit-pty <key>.pub',
    ]);
  });
});
