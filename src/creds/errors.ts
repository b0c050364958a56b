// The failures sealing and opening credentials report, each with a message meant for the person at hand.

export type CredsErrorCode =
  /** Nothing to seal to. */
  | 'no-keys'
  /** The private key file is not one this code can use (wrong kind, malformed, unsupported type). */
  | 'bad-private-key'
  /** The private key is protected by a passphrase; `age -d -i` can prompt for it. */
  | 'passphrase-protected'
  /** The text is not an ASCII-armored age file, or its header or payload is damaged. */
  | 'bad-ciphertext'
  /** The file was not sealed to this key. */
  | 'not-a-recipient';

export class CredsError extends Error {
  override name = 'CredsError';
  constructor(
    readonly code: CredsErrorCode,
    message: string,
  ) {
    super(message);
  }
}
