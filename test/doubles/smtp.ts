// A real SMTP server on loopback (the `smtp-server` package), optionally with AUTH and STARTTLS, that keeps
// every mail it accepts, decoded enough for assertions: headers (RFC 2047 words decoded) and the text body.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

export interface ReceivedMail {
  /** SMTP envelope. */
  from: string;
  to: string[];
  /** Whether the session was TLS when the mail was sent; the logged-in user, if any. */
  secure: boolean;
  user?: string;
  raw: string;
  /** Lower-cased names; decoded values. */
  headers: Map<string, string>;
  text: string;
}

export interface SmtpDoubleOptions {
  /** Require this login (AUTH PLAIN/LOGIN). */
  auth?: { user: string; pass: string };
  /** Offer STARTTLS with a fresh self-signed certificate for 127.0.0.1 (see `ca`). */
  starttls?: boolean;
  /** Answer the first N mails with this SMTP reply code (e.g. 451 temporary, 550 permanent). */
  rejectFirst?: { count: number; code: number };
}

export class SmtpDouble {
  readonly received: ReceivedMail[] = [];
  /** The certificate clients should trust when `starttls` is on. */
  ca?: string;
  port = 0;
  #server?: SMTPServer;
  #rejectsLeft = 0;

  constructor(readonly options: SmtpDoubleOptions = {}) {
    this.#rejectsLeft = options.rejectFirst?.count ?? 0;
  }

  url(auth = this.options.auth): string {
    const login = auth ? `${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.pass)}@` : '';
    return `smtp://${login}127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const { auth, starttls } = this.options;
    const tls = starttls ? selfSigned() : undefined;
    this.ca = tls?.cert;
    const options: SMTPServerOptions = {
      secure: false,
      logger: false,
      hideSTARTTLS: !starttls,
      ...(tls ? { key: tls.key, cert: tls.cert } : {}),
      authOptional: !auth,
      allowInsecureAuth: !starttls,
      disabledCommands: auth ? [] : ['AUTH'],
      onAuth: (a, _session, cb) => {
        if (auth && a.username === auth.user && a.password === auth.pass) cb(null, { user: a.username });
        else cb(new Error('Invalid username or password'));
      },
      onData: (stream, session, cb) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          if (this.#rejectsLeft > 0) {
            this.#rejectsLeft--;
            const error = new Error('Try again later') as Error & { responseCode: number };
            error.responseCode = this.options.rejectFirst?.code ?? 451;
            return cb(error);
          }
          const raw = Buffer.concat(chunks).toString('utf8');
          this.received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            secure: session.secure,
            ...(typeof session.user === 'string' ? { user: session.user } : {}),
            raw,
            ...parseMail(raw),
          });
          cb();
        });
      },
    };
    this.#server = new SMTPServer(options);
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}

/** A key and self-signed certificate for 127.0.0.1/localhost, made by openssl for this run. */
function selfSigned(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'timebox-smtp-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    return {
      key: readFileSync(join(dir, 'key.pem'), 'utf8'),
      cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function parseMail(raw: string): { headers: Map<string, string>; text: string } {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  const body = raw.slice(split + 4);
  const headers = new Map<string, string>();
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0)
      headers.set(line.slice(0, colon).trim().toLowerCase(), decodeWords(line.slice(colon + 1).trim()));
  }
  const encoding = (headers.get('content-transfer-encoding') ?? '7bit').toLowerCase();
  const bytes =
    encoding === 'quoted-printable'
      ? decodeQp(body)
      : encoding === 'base64'
        ? Buffer.from(body, 'base64')
        : Buffer.from(body, 'utf8');
  return { headers, text: bytes.toString('utf8').replace(/\r\n/g, '\n') };
}

/** RFC 2047 encoded words (UTF-8, B or Q), adjacent words joined. */
function decodeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?utf-8\?([bq])\?([^?]*)\?=/gi, (_, enc: string, text: string) =>
      enc.toLowerCase() === 'b'
        ? Buffer.from(text, 'base64').toString('utf8')
        : decodeQp(text.replace(/_/g, ' ')).toString('utf8'),
    );
}

function decodeQp(text: string): Buffer {
  const soft = text.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < soft.length; i++) {
    const c = soft[i] as string;
    if (c === '=' && /^[0-9A-F]{2}$/i.test(soft.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(soft.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(c, 'utf8'));
  }
  return Buffer.from(bytes);
}
