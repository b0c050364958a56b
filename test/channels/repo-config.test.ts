// `notify:` lives in timebox.yaml: the config schema carries notify.schema.json (a copy, kept equal here), so
// `timebox check` finds a bad entry where the server would, and the server reads the section back out.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { notifySection } from '../../src/channels/repos.js';
import { validateSchema } from '../../src/core/schemas.js';
import { loadYaml } from '../../src/core/yaml-loader.js';

const read = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../schemas/${name}.schema.json`, import.meta.url), 'utf8')) as Record<
    string,
    unknown
  >;

/** notify.schema.json as config.schema.json carries it: its definitions prefixed `notify_`. */
function prefixed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(prefixed);
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        k === '$ref' && typeof v === 'string'
          ? v.replace('#/definitions/', '#/definitions/notify_')
          : prefixed(v),
      ]),
    );
  return value;
}

const configErrors = (text: string) => {
  const loaded = loadYaml(text, { scalars: 'core' });
  return validateSchema('config', loaded.value, loaded).map((e) => e.message);
};

describe('notify: in timebox.yaml', () => {
  it('config.schema.json carries notify.schema.json unchanged', () => {
    const notify = read('notify');
    const config = read('config') as {
      properties: Record<string, Record<string, unknown>>;
      definitions: Record<string, unknown>;
    };
    expect(config.properties.notify?.type).toBe(notify.type);
    expect(config.properties.notify?.items).toEqual(prefixed(notify.items));
    for (const [name, def] of Object.entries(notify.definitions as Record<string, unknown>))
      expect(config.definitions[`notify_${name}`], name).toEqual(prefixed(def));
  });

  it('a good notify: passes the config schema, a bad one is found by `check`', () => {
    const good = `auto_merge: true
notify:
  - { channel: webhook, to: "https://hooks.acme.example/timebox", events: [granted] }
  - { channel: slack, to: C0ACCESS01, resources: ["prod-*"] }
`;
    expect(configErrors(good)).toEqual([]);
    expect(configErrors('notify:\n  - { channel: webhook, to: "ftp://x.example/" }\n').join('\n')).toMatch(
      /pattern|format/,
    );
    expect(configErrors('notify:\n  - { channel: pager, to: x }\n')).not.toEqual([]);
  });

  it('the server reads the section back out of timebox.yaml', () => {
    expect(notifySection('auto_merge: true\nnotify:\n  - { channel: email, to: a@acme.example }\n')).toEqual([
      { channel: 'email', to: 'a@acme.example' },
    ]);
    expect(notifySection('auto_merge: true\n')).toBeUndefined();
    expect(() => notifySection('notify: [\n')).toThrow(/timebox.yaml/);
  });
});
