// Types of scripts/build-validators.mjs, for test/core/precompiled-validators.test.ts.
import type * as schemasModule from '../src/core/schemas.js';

export function validatorsModule(lib: typeof schemasModule, schemas: object[]): string;
export function knownSchemas(
  load: (path: string) => Promise<unknown>,
): Promise<{ lib: typeof schemasModule; schemas: object[] }>;
