// What every provider plugin declares. Granting and revoking are added by the providers themselves;
// the pure core only needs the schemas that check a provider's settings in policy files.

export interface ProviderDefinition {
  /** The `provider:` value in policies. */
  id: string;
  /** One line for `--help` and docs. */
  summary: string;
  /** JSON Schema (draft-07) for the provider's own keys on a resource (besides provider, description, roles). */
  resourceSchema: object;
  /** JSON Schema (draft-07) for one role's settings. */
  roleSchema: object;
}
