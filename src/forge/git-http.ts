// Git's smart HTTP protocol, read-only (fetch and clone), served like github.com serves it: each request runs
// `git http-backend` as a CGI program on the repository's bare directory, the request body streamed to its
// stdin (gzip and chunked bodies included) and its output streamed back. Pushing goes through the REST API.
import { spawn } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, dirname } from 'node:path';

/** A request for a repository's git endpoints: `/{owner}/{repo}.git/…` (or the smart paths without `.git`). */
export interface GitPath {
  /** `owner/repo`, as the URL spells it. */
  fullName: string;
  /** What follows the repository, e.g. `/info/refs` or `/git-upload-pack`. */
  rest: string;
  /** `upload-pack` (fetch, served), `receive-pack` (push, refused), or `other` (dumb HTTP: not served). */
  service: 'upload-pack' | 'receive-pack' | 'other';
}

const SMART = /^\/([^/]+)\/([^/]+?)(\.git)?(\/info\/refs|\/git-upload-pack|\/git-receive-pack)$/;
const ANY_GIT = /^\/([^/]+)\/([^/]+?)\.git(\/.*)?$/;

/** The git request `pathname` is, or undefined for anything else (the REST API). */
export function matchGitPath(method: string, pathname: string, query: URLSearchParams): GitPath | undefined {
  const smart = SMART.exec(pathname);
  if (smart) {
    const [, owner = '', repo = '', , rest = ''] = smart;
    const fullName = `${owner}/${repo}`;
    if (rest === '/info/refs' && method === 'GET') {
      const service = query.get('service');
      if (service === 'git-upload-pack') return { fullName, rest, service: 'upload-pack' };
      if (service === 'git-receive-pack') return { fullName, rest, service: 'receive-pack' };
      return { fullName, rest, service: 'other' };
    }
    if (rest === '/git-upload-pack' && method === 'POST') return { fullName, rest, service: 'upload-pack' };
    if (rest === '/git-receive-pack') return { fullName, rest, service: 'receive-pack' };
    return { fullName, rest, service: 'other' };
  }
  const any = ANY_GIT.exec(pathname);
  if (!any) return undefined;
  const [, owner = '', repo = '', rest = ''] = any;
  return { fullName: `${owner}/${repo}`, rest, service: 'other' };
}

/**
 * The token of an `Authorization: Basic` header: the password (GitHub ignores the username, conventionally
 * `x-access-token`), or the username when the password is empty. Undefined without Basic credentials.
 */
export function basicToken(header: string | undefined): string | undefined {
  const m = /^basic\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const [user, password] = colon < 0 ? [decoded, ''] : [decoded.slice(0, colon), decoded.slice(colon + 1)];
  return password || user || undefined;
}

/** A plain text answer, which git prints as `remote: <message>`. */
export function sendText(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(`${message}\n`);
}

export interface BackendRequest {
  /** The repository's bare directory. */
  gitDir: string;
  /** `/info/refs` or `/git-upload-pack`. */
  rest: string;
  /** Who the request authenticated as (REMOTE_USER). */
  user: string;
  headers?: Record<string, string>;
}

/** A clean environment: no inherited GIT_* variables (tests may run inside git hooks), no user config. */
function cgiEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('GIT_')) env[key] = value;
  }
  Object.assign(env, { GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', LC_ALL: 'C' });
  for (const [key, value] of Object.entries(extra)) if (value !== undefined) env[key] = value;
  return env;
}

/**
 * Runs `git http-backend` for `req` and streams its answer to `res`. Resolves with the status as soon as it is
 * sent, before the body streams: 500 with git's stderr when the backend fails before answering.
 */
export function runHttpBackend(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  backend: BackendRequest,
): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('git', ['http-backend'], {
      env: cgiEnv({
        GIT_PROJECT_ROOT: dirname(backend.gitDir),
        PATH_INFO: `/${basename(backend.gitDir)}${backend.rest}`,
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: req.method ?? 'GET',
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'],
        // Chunked bodies have no length: the backend then reads its stdin to the end.
        CONTENT_LENGTH: req.headers['content-length'],
        // Git gzips large POST bodies; the backend inflates them itself.
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'],
        // `Git-Protocol: version=2` selects protocol v2.
        GIT_PROTOCOL: req.headers['git-protocol']?.toString(),
        REMOTE_USER: backend.user,
        REMOTE_ADDR: req.socket.remoteAddress,
      }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stderr: Buffer[] = [];
    let head = Buffer.alloc(0);
    let answered = false;
    const answer = (status: number, send: () => void): void => {
      answered = true;
      resolve(status);
      send();
    };
    const fail = (message: string): void => {
      // Once the answer has started, the client can only be told by a broken connection.
      if (answered) {
        res.destroy();
        return;
      }
      const text = `fake-github: git http-backend failed: ${message}`;
      answer(500, () => sendText(res, 500, text, backend.headers));
    };

    // The request body goes to the backend as it arrives; a backend that stops reading early is no error.
    child.stdin.on('error', () => {});
    req.pipe(child.stdin);
    // A client that goes away takes the backend with it.
    res.on('close', () => {
      req.unpipe(child.stdin);
      if (child.exitCode === null && child.signalCode === null) child.kill();
      resolve(res.statusCode);
    });

    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stdout.on('data', (chunk: Buffer) => {
      if (answered) {
        if (!res.destroyed) res.write(chunk);
        return;
      }
      // CGI headers (an optional `Status:` line, then fields) end at the first blank line.
      head = Buffer.concat([head, chunk]);
      const end = headerEnd(head);
      if (!end) return;
      const { status, headers } = parseCgiHeaders(head.subarray(0, end.at).toString('latin1'));
      answer(status, () => {
        res.writeHead(status, { ...backend.headers, ...headers });
        res.write(head.subarray(end.at + end.length));
      });
    });
    child.on('error', (e) => fail(e.message));
    child.on('close', (code, signal) => {
      if (!answered) {
        const why = Buffer.concat(stderr).toString('utf8').trim();
        fail(why || `exited with ${signal ?? code} before answering`);
      }
      res.end();
    });
  });
}

/** Where the CGI header block ends (`\r\n\r\n` or `\n\n`), or undefined when it has not yet. */
function headerEnd(buffer: Buffer): { at: number; length: number } | undefined {
  const crlf = buffer.indexOf('\r\n\r\n');
  const lf = buffer.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { at: crlf, length: 4 };
  return lf >= 0 ? { at: lf, length: 2 } : undefined;
}

/** `Status: 404 Not Found` (default 200) and the other header fields of a CGI response. */
export function parseCgiHeaders(block: string): { status: number; headers: Record<string, string> } {
  let status = 200;
  const headers: Record<string, string> = {};
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
    else headers[name] = value;
  }
  return { status, headers };
}
