// The Redis the tests use: TIMEBOX_TEST_REDIS_URL, else the machine's (127.0.0.1:6379). When neither answers
// the suites that need it are skipped, saying why (.ci/run starts the machine's Redis).
import { createClient } from 'redis';

export const REDIS_URL = process.env.TIMEBOX_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Null when Redis answers PING, else why not. */
export async function redisUnavailable(): Promise<string | null> {
  const client = createClient({ url: REDIS_URL, socket: { connectTimeout: 2000, reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return null;
  } catch (err) {
    return `Redis does not answer at ${REDIS_URL} (${(err as Error).message}): start it as .ci/run does, or set TIMEBOX_TEST_REDIS_URL`;
  } finally {
    if (client.isOpen) await client.quit().catch(() => {});
  }
}
