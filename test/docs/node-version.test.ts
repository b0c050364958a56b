// The Node.js version the README and package.json state is one every installed package accepts: the
// `engines.node` of each package in node_modules (what `npm ci` installs: the CLI's dependencies and the
// dev dependencies of a checkout) admits it, or the package is listed below with the reason it runs anyway.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/repo.js';

/** Packages whose declared engines exclude the stated version, and why that is fine. */
const DECLARED_TOO_HIGH: Record<string, string> = {
  // probot → @octokit/request → content-type ^3: every 3.x declares >=22, 2.x is not API-compatible. It
  // parses a header with plain JavaScript; the whole suite runs on Node 20, and npm only warns (EBADENGINE).
  'content-type': 'declares >=22 for no Node 22 API; runs on Node 20 (this suite)',
};

type Version = [number, number, number];

const cmp = (a: Version, b: Version) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

/** Whether `v` satisfies an npm `engines` range (the forms packages use: ^ ~ >= > <= < =, x, ||, bare). */
function satisfies(v: Version, range: string): boolean {
  return range.split('||').some((alt) => {
    const tokens = alt
      .replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1')
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    return tokens.every((token) => {
      if (token === '*' || token === 'x') return true;
      const m = /^(>=|<=|>|<|=|\^|~)?v?(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?$/.exec(token);
      if (!m) throw new Error(`cannot read the engines range "${range}"`);
      const op = m[1] ?? '';
      const parts = [m[2], m[3], m[4]].map((p) =>
        p === undefined || p === 'x' || p === '*' ? null : Number(p),
      );
      const base: Version = [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0];
      const c = cmp(v, base);
      switch (op) {
        case '>=':
          return c >= 0;
        case '>':
          return c > 0;
        case '<=':
          return c <= 0;
        case '<':
          return c < 0;
        case '^':
          return c >= 0 && v[0] === base[0];
        case '~':
          return c >= 0 && v[0] === base[0] && (parts[1] === null || v[1] === base[1]);
        default:
          // `20`, `20.5`, `20.5.1`, `=20`: every version the given parts allow.
          return parts.every((p, i) => p === null || v[i] === p);
      }
    });
  });
}

function installedPackages(): { name: string; engines: string }[] {
  const out: { name: string; engines: string }[] = [];
  const visit = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      if (name.startsWith('.')) continue;
      if (name.startsWith('@')) {
        for (const sub of readdirSync(join(dir, name))) visitPackage(join(dir, name, sub), `${name}/${sub}`);
      } else visitPackage(join(dir, name), name);
    }
  };
  const visitPackage = (dir: string, name: string) => {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) return;
    const engines = (JSON.parse(readFileSync(file, 'utf8')) as { engines?: { node?: unknown } }).engines
      ?.node;
    if (typeof engines === 'string') out.push({ name, engines });
    visit(join(dir, 'node_modules'));
  };
  visit(join(ROOT, 'node_modules'));
  return out;
}

describe('the stated Node.js version', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const stated = /Node\.js (\d+)\.(\d+)\+/.exec(readme);

  it('README and package.json state the same one', () => {
    expect(stated, 'README.md names no "Node.js X.Y+"').not.toBeNull();
    const engines = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).engines.node;
    expect(engines).toBe(`>=${stated?.[1]}.${stated?.[2]}`);
  });

  it('every installed package accepts it, or says why it runs anyway', () => {
    const v: Version = [Number(stated?.[1]), Number(stated?.[2]), 0];
    const refusing = installedPackages()
      .filter((p) => !satisfies(v, p.engines) && !(p.name in DECLARED_TOO_HIGH))
      .map((p) => `${p.name}: ${p.engines}`);
    expect(refusing).toEqual([]);
    // The list stays true: each exception is installed and does refuse the version.
    for (const name of Object.keys(DECLARED_TOO_HIGH)) {
      const p = installedPackages().find((x) => x.name === name);
      expect(p && !satisfies(v, p.engines), `${name} is no longer an exception`).toBe(true);
    }
  });

  it('reads the ranges packages use', () => {
    expect(satisfies([20, 19, 0], '^20.19.0 || >=22.12.0')).toBe(true);
    expect(satisfies([20, 11, 0], '^20.18.1 || >= 22')).toBe(false);
    expect(satisfies([20, 19, 0], '18 || 20 || >=22')).toBe(true);
    expect(satisfies([20, 19, 0], '>=22')).toBe(false);
    expect(satisfies([20, 19, 0], '>= 0.6')).toBe(true);
    expect(satisfies([20, 19, 0], '^20.0.0 || ^22.0.0 || >=24.0.0')).toBe(true);
    expect(satisfies([20, 19, 0], '~20.18.0')).toBe(false);
  });
});
