// The runtime ajv (src/core/schemas.ts) compiles Timebox's own schemas without checking them against the
// JSON Schema meta-schema (that cost every cold start); this test does the check instead, for the schemas
// providers declare (the files in schemas/ are checked by test/core/request-file.test.ts).
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { ajv as runtimeAjv } from '../../src/core/schemas.js';
import { providerDefinitions } from '../../src/providers/registry.js';

const defs = [...providerDefinitions.values()];

describe('provider schemas', () => {
  it.each(defs.map((d) => [d.id, d] as const))(
    '%s: resource and role schemas are valid JSON Schema',
    (_, d) => {
      const meta = new Ajv({ strict: true, allowUnionTypes: true });
      for (const schema of [d.resourceSchema, d.roleSchema]) {
        expect(meta.validateSchema(schema as object), JSON.stringify(meta.errors)).toBe(true);
      }
    },
  );

  it('the runtime ajv skips the meta-schema check (a cold start does not pay for it)', () => {
    expect(runtimeAjv.opts.validateSchema).toBe(false);
  });
});
