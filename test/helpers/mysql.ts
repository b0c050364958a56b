// The MariaDB/MySQL the tests use: TIMEBOX_TEST_MYSQL_URL, else the machine's (root on 127.0.0.1:3306).
// When neither answers the suites that need it are skipped, saying why (.ci/run starts the machine's).
import mysql from 'mysql2/promise';

export const MYSQL_URL = process.env.TIMEBOX_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/mysql';

/** Null when the server answers, else why not. */
export async function mysqlUnavailable(): Promise<string | null> {
  try {
    const c = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 2000 });
    await c.query('SELECT 1');
    await c.end();
    return null;
  } catch (err) {
    return `MariaDB/MySQL does not answer at ${MYSQL_URL} (${(err as Error).message}): start it as .ci/run does, or set TIMEBOX_TEST_MYSQL_URL`;
  }
}

/**
 * Runs `body` with server variables set globally (`{ time_zone: "'-05:00'" }`, values as SQL), then puts
 * back what they were, whatever happens: other suites share the server.
 */
export async function withGlobals(
  admin: mysql.Connection,
  values: Record<string, string>,
  body: () => Promise<void>,
): Promise<void> {
  const names = Object.keys(values);
  const [rows] = await admin.query(`SELECT ${names.map((n) => `@@GLOBAL.${n} AS ${n}`).join(', ')}`);
  const before = (rows as Record<string, unknown>[])[0] ?? {};
  try {
    for (const n of names) await admin.query(`SET GLOBAL ${n} = ${values[n]}`);
    await body();
  } finally {
    for (const n of names) await admin.query(`SET GLOBAL ${n} = ?`, [before[n]]);
  }
}
