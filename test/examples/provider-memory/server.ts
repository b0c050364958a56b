// The "server" the example provider manages: accounts, their tags and their sessions, in memory, by
// connection name. It stands in for a database so the example needs nothing installed; a new instance of
// the provider (a restart) sees what the last one left, as it would on a real server.
import { randomBytes } from 'node:crypto';

export interface Account {
  password: string;
  sessions: Set<symbol>;
}

export interface MemoryServer {
  accounts: Map<string, Account>;
  /** Tags kept apart from accounts, as the mysql and redis providers keep theirs. */
  tags: Map<string, string>;
}

const servers = new Map<string, MemoryServer>();

export function serverNamed(name: string): MemoryServer {
  const found = servers.get(name);
  if (found) return found;
  const made: MemoryServer = { accounts: new Map(), tags: new Map() };
  servers.set(name, made);
  return made;
}

/** `memory://<user>:<password>@<server>`: what a grant hands out. */
export function secretFor(server: string, user: string, password: string): string {
  return `memory://${user}:${password}@${server}\n`;
}

/** Opens a session with a secret, or null when the server refuses it. */
export function login(secret: string): { server: MemoryServer; user: string; session: symbol } | null {
  const url = new URL(secret.trim());
  const server = servers.get(url.hostname);
  const account = server?.accounts.get(url.username);
  if (!server || !account || account.password !== url.password) return null;
  const session = Symbol(url.username);
  account.sessions.add(session);
  return { server, user: url.username, session };
}

export const newPassword = () => randomBytes(12).toString('hex');
