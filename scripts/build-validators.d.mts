// Types of scripts/build-validators.mjs, for test/core/precompiled-validators.test.ts.
import type * as schemas from '../src/core/schemas.js';

export function validatorsModule(lib: typeof schemas, schemas: object[]): string;
export function knownSchemas(
  load: (path: string) => Promise<unknown>,
): Promise<{ lib: typeof schemas; schemas: object[] }>;
