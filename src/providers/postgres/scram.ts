// The SCRAM-SHA-256 verifier of a password, as PostgreSQL stores it in pg_authid.rolpassword (RFC 5802 with
// SHA-256, RFC 7677). A grant sends this instead of the password: `CREATE ROLE … PASSWORD '<verifier>'` is
// stored as it is, so the password itself never reaches the server, its log (log_statement) or
// pg_stat_statements.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

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
  if (!/^[\x21-\x7e]+$/.test(password)) {
    throw new Error('a SCRAM verifier is only computed here for printable ASCII passwords');
  }
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
