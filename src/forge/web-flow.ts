// The forge's "web-flow" key: GitHub signs the commits it makes (merges, and commits an App makes through the
// API) with an OpenPGP key of its own, and the REST API reports them as verified. The forge does the same
// with an Ed25519 key made when it starts, so that the audit's trust in Timebox's merges (docs/audit.md) is
// tested against signed commits, as on GitHub. Key and signatures are OpenPGP.js's (never our own packets);
// gpg imports and verifies what this writes (test/repo/openpgp.test.ts).
import { createMessage, generateKey, type PrivateKey, sign } from 'openpgp';

const WEB_FLOW_UID = { name: 'GitHub (web-flow commit signing)', email: 'noreply@github.com' };

export interface WebFlowKey {
  /** Upper-case hex v4 fingerprint. */
  fingerprint: string;
  /** The public key, armored (what https://github.com/web-flow.gpg serves). */
  publicKey: string;
  /** An armored detached signature of `data` (a commit object without its `gpgsig` header), made at `at`. */
  sign(data: Buffer, at: Date): Promise<string>;
}

/** A new signing-only v4 Ed25519 key (legacy EdDSA, which gpg 2.2 reads), created at `created`. */
export async function createWebFlowKey(created: Date): Promise<WebFlowKey> {
  const { privateKey, publicKey } = await generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: [WEB_FLOW_UID],
    date: created,
    subkeys: [],
    format: 'object',
  });
  const signingKey: PrivateKey = privateKey;
  return {
    fingerprint: publicKey.getFingerprint().toUpperCase(),
    publicKey: publicKey.armor(),
    sign: async (data, at) =>
      sign({
        // Binary mode (signature type 0x00), as git signs: the exact bytes, no line-ending normalisation.
        message: await createMessage({
          binary: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
        }),
        signingKeys: signingKey,
        detached: true,
        format: 'armored',
        date: at,
      }),
  };
}
