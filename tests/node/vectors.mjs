// Requests on the shared Sigstore conformance vectors that more than one script here makes.

import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The conformance suite's default signer (its README). */
export const DEFAULT_IDENTITY =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
export const DEFAULT_ISSUER = 'https://token.actions.githubusercontent.com';

/** `verify-bundle` of case `name` over `a.txt`, by the default signer, under `production`. */
export function keylessBundleRequest(conformance, name, at) {
  const dir = path.join(conformance, 'bundle-verify');
  return {
    bundle: new Uint8Array(readFileSync(path.join(dir, name, 'bundle.sigstore.json'))),
    artifact: { tag: 'bytes', val: new Uint8Array(readFileSync(path.join(dir, 'a.txt'))) },
    authority: {
      tag: 'keyless',
      val: {
        identities: [
          { subject: { tag: 'exact', val: DEFAULT_IDENTITY }, issuer: { tag: 'exact', val: DEFAULT_ISSUER }, githubWorkflow: {} },
        ],
        trustedRoot: 'production',
      },
    },
    trustedRoot: 'production',
    at,
  };
}
