// The SCRAM-SHA-256 verifier of a password, as PostgreSQL stores it in pg_authid.rolpassword (RFC 5802 with
// SHA-256, RFC 7677). A grant sends this instead of the password: `CREATE ROLE … PASSWORD '<verifier>'` is
// stored as it is, so the password itself never reaches the server, its log (log_statement) or
// pg_stat_statements.
import { createHash, createHmac, pbkdf2, pbkdf2Sync, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

/** PostgreSQL's default (`scram_iterations`, 16+; fixed before). */
export const SCRAM_ITERATIONS = 4096;

/**
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64). The password must be ASCII without
 * control characters, for which SASLprep changes nothing (Timebox's are base64url).
 */
export function scramVerifier(
  password: string,
  salt: Buffer = randomBytes(16),
  iterations: number = SCRAM_ITERATIONS,
): string {
  checkPassword(password);
  return encode(pbkdf2Sync(password, salt, iterations, 32, 'sha256'), salt, iterations);
}

const pbkdf2Async = promisify(pbkdf2);

/**
 * The same verifier, its key derivation on libuv's thread pool: a batch of grants derives its verifiers
 * on every core, beside the event loop, instead of one after another on it (4096 rounds each).
 */
export async function scramVerifierAsync(
  password: string,
  salt: Buffer = randomBytes(16),
  iterations: number = SCRAM_ITERATIONS,
): Promise<string> {
  checkPassword(password);
  return encode(await pbkdf2Async(password, salt, iterations, 32, 'sha256'), salt, iterations);
}

function checkPassword(password: string): void {
  if (!/^[\x21-\x7e]+$/.test(password)) {
    throw new Error('a SCRAM verifier is only computed here for printable ASCII passwords');
  }
}

function encode(salted: Buffer, salt: Buffer, iterations: number): string {
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
