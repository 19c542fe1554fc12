#!/usr/bin/env node
// The lying-host matrix (lying-host.json) in Node: every scene verified honestly, then once per
// lie with a fetcher that alters one answer. Prints one JSON array of
// `{scene, lie, result}` (`result`: the report, or `{error: {reason, message}}`); the wasmtime
// side (host/src/runtime/lying.rs) runs the same rows and compares, row by row, with this.
//
// Usage: lying.mjs [CONFORMANCE_DIR]   (default: $SIGWARD_CONFORMANCE_DIR, else ../shared/conformance)

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Denial, Engine } from './engine.mjs';
import { EMBEDDED_ROOTS, Fetcher } from './fetcher.mjs';
import { keylessBundleRequest } from './vectors.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const conformance = path.resolve(
  process.argv[2] ?? process.env.SIGWARD_CONFORMANCE_DIR ?? path.join(repo, '../shared/conformance'),
);
const matrix = JSON.parse(readFileSync(path.join(here, 'lying-host.json'), 'utf8'));

/** The time every row is judged at: fixed, so both engines judge alike. */
export const AT = 1_767_225_600n; // 2026-01-01T00:00:00Z

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

const sha256 = (bytes) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

function flipLast(bytes) {
  const copy = new Uint8Array(bytes);
  copy[copy.length - 1] ^= 1;
  return copy;
}

/** The first signature-bearing layer: of the `.sig` manifest, else of the `.att` one. */
function firstLayer(material) {
  return material.signatures[0] ?? material.attestations[0];
}

/** Each lie alters one answer; the Rust twin in host/src/runtime/lying.rs does the same. */
const LIES = {
  'manifest-bytes': { resolve: (m) => ({ ...m, bytes: new Uint8Array([...m.bytes, 0x0a]) }) },
  'manifest-media-type': { resolve: (m) => ({ ...m, mediaType: m.mediaType === OCI_INDEX ? OCI_MANIFEST : OCI_INDEX }) },
  'layer-payload': { layer: (l) => ({ ...l, payload: flipLast(l.payload) }) },
  'layer-payload-rehashed': {
    layer: (l) => {
      const payload = flipLast(l.payload);
      return { ...l, payload, digest: sha256(payload) };
    },
  },
  'layer-digest': { layer: (l) => ({ ...l, digest: `sha256:${'0'.repeat(64)}` }) },
  'layer-media-type': { layer: (l) => ({ ...l, mediaType: 'application/vnd.oci.image.layer.v1.tar' }) },
  'layer-signature': {
    layer: (l) => ({
      ...l,
      annotations: l.annotations.map(([key, value]) =>
        key === SIGNATURE_ANNOTATION ? [key, Buffer.from(flipLast(Buffer.from(value, 'base64'))).toString('base64')] : [key, value],
      ),
    }),
  },
  'layer-annotations-dropped': { layer: (l) => ({ ...l, annotations: [] }) },
  'layers-swapped-kind': { attached: (m) => ({ ...m, signatures: m.attestations, attestations: m.signatures }) },
  'trusted-root-staging': { trustedRoot: () => new Uint8Array(readFileSync(EMBEDDED_ROOTS.staging)) },
  'trusted-root-without-tlogs': {
    trustedRoot: (root) => {
      const parsed = JSON.parse(Buffer.from(root).toString('utf8'));
      delete parsed.tlogs;
      return new Uint8Array(Buffer.from(JSON.stringify(parsed)));
    },
  },
  'trusted-root-garbage': { trustedRoot: () => new Uint8Array(Buffer.from('not a trusted root')) },
};

/** The honest fetcher, with the one answer `lie` names altered. */
class Liar extends Fetcher {
  constructor(lie) {
    super();
    this.lie = lie ? LIES[lie] : {};
    if (!this.lie) throw new Error(`unknown lie ${lie}`);
  }

  resolve(image) {
    const manifest = super.resolve(image);
    return this.lie.resolve ? this.lie.resolve(manifest) : manifest;
  }

  attached(image, digest, kinds) {
    let material = super.attached(image, digest, kinds);
    if (this.lie.attached) material = this.lie.attached(material);
    const layer = firstLayer(material);
    if (this.lie.layer && layer) {
      const altered = this.lie.layer(layer);
      const list = material.signatures[0] ? 'signatures' : 'attestations';
      material = { ...material, [list]: [altered, ...material[list].slice(1)] };
    }
    return material;
  }

  trustedRoot(name) {
    const root = super.trustedRoot(name);
    return this.lie.trustedRoot ? this.lie.trustedRoot(root) : root;
  }
}

function run(engine, scene, lie) {
  const fetcher = new Liar(lie);
  try {
    if (scene.bundle) {
      return engine.verifyBundle(keylessBundleRequest(conformance, scene.bundle, AT), fetcher);
    }
    const [, dir] = scene.image.split(':');
    return engine.verifyImage(
      {
        image: `oci:${path.join(repo, dir)}`,
        authorities: [{ name: 'key', authority: { tag: 'key', val: readFileSync(path.join(repo, scene.key), 'utf8') } }],
        annotations: [],
        check: scene.check === 'signature' ? { tag: 'signature' } : { tag: 'attestation', val: scene.check },
        tlog: 'insecure-ignore',
        trustedRoot: 'production',
        at: AT,
      },
      fetcher,
    );
  } catch (err) {
    if (err instanceof Denial) return { error: err.toJSON() };
    throw err;
  }
}

const engine = await new Engine().load();
const rows = [
  ...Object.keys(matrix.scenes).map((scene) => ({ scene, lie: null })),
  ...matrix.lies.map(({ scene, lie }) => ({ scene, lie })),
];
const results = rows.map(({ scene, lie }) => ({ scene, lie, result: run(engine, matrix.scenes[scene], lie) }));
console.log(JSON.stringify(results, null, 2));
