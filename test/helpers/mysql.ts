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
