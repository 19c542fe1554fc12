#!/usr/bin/env node
// `make bench`, Node's part: what the second engine costs, on the inputs host/benches/component.rs
// gives wasmtime (the P-256 case `cosign-tagless` of policy-wasm/tests/data/image and the
// conformance bundle `happy-path-v0.3`, served from memory so no I/O is timed). Prints Markdown
// rows (median of many runs after warm-up); the Makefile puts them into BENCHMARKS.md.
//
// Usage: bench.mjs CONFORMANCE_DIR

import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Engine, DEFAULT_COMPONENT_DIR } from './engine.mjs';
import { DEFAULT_IDENTITY, DEFAULT_ISSUER, keylessBundleRequest } from './vectors.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const conformance = path.resolve(process.argv[2] ?? path.join(repo, '../shared/conformance'));

function median(runs) {
  const sorted = [...runs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Median milliseconds of `f` over `n` runs, after `n / 10` unmeasured ones. */
function time(n, f) {
  for (let i = 0; i < Math.max(1, n / 10); i++) f();
  const runs = [];
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint();
    f();
    runs.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return median(runs);
}

const micros = (ms) => `${(ms * 1000).toFixed(1)} µs`;
const millis = (ms) => `${ms.toFixed(1)} ms`;
const row = (what, value) => console.log(`| ${what} | ${value} | |`);

// Transpiling: what `make node` does once per component build.
const component = path.join(repo, 'target/components/sigward-policy.wasm');
const jco = path.join(here, 'node_modules/.bin/jco');
const transpiles = [];
for (let i = 0; i < 3; i++) {
  const out = mkdtempSync(path.join(tmpdir(), 'sigward-jco-'));
  const start = process.hrtime.bigint();
  const done = spawnSync(jco, ['transpile', component, '--instantiation', 'sync', '--no-typescript', '--quiet', '-o', out]);
  transpiles.push(Number(process.hrtime.bigint() - start) / 1e6);
  rmSync(out, { recursive: true, force: true });
  if (done.status !== 0) throw new Error(`jco transpile failed: ${done.stderr}`);
}
row('Node: jco transpile of the portable component (`make node`)', millis(median(transpiles)));

// Compiling the core modules (V8 compiles lazily with Liftoff, then tiers up hot functions).
const core = readFileSync(path.join(DEFAULT_COMPONENT_DIR, 'sigward-policy.core.wasm'));
row('Node: compile the component\'s core modules (V8, `new WebAssembly.Module`)', millis(time(10, () => new WebAssembly.Module(core))));

const engine = await new Engine().load();
const data = path.join(repo, 'policy-wasm/tests/data/image');
const payload = new Uint8Array(readFileSync(path.join(data, 'cosign-tagless/payload')));
const memory = {
  resolve: () => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes: new Uint8Array(readFileSync(path.join(data, 'manifest.json'))) }),
  attached: () => ({
    signatures: [
      {
        mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
        digest: `sha256:${createHash('sha256').update(payload).digest('hex')}`,
        annotations: [['dev.cosignproject.cosign/signature', readFileSync(path.join(data, 'cosign-tagless/signature'), 'utf8')]],
        payload,
      },
    ],
    attestations: [],
    bundles: [],
  }),
  trustedRoot: () => new Uint8Array(readFileSync(path.join(conformance, 'trust/production/trusted_root.json'))),
};
const keyed = {
  image: 'registry.test/team/app:v1',
  authorities: [{ name: 'key.pub', authority: { tag: 'key', val: readFileSync(path.join(data, 'key.pub'), 'utf8') } }],
  annotations: [],
  check: { tag: 'signature' },
  tlog: 'insecure-ignore',
  trustedRoot: 'production',
  at: 1_700_000_000n,
};

row('Node: instantiate (fresh instance)', micros(time(2000, () => engine.instantiate(memory))));
const keyedMs = time(2000, () => {
  if (!engine.verifyImage(keyed, memory).verified) throw new Error('keyed case did not verify');
});
row('Node: keyed P-256 verification, portable component, fresh instance per call', micros(keyedMs));

const bundleDir = path.join(conformance, 'bundle-verify');
const bundle = keylessBundleRequest(conformance, 'happy-path-v0.3', 1_750_000_000n);
const bundleMs = time(300, () => {
  if (!engine.verifyBundle(bundle, memory).verified) throw new Error('bundle did not verify');
});
row('Node: keyless bundle verification (happy-path-v0.3), portable component, fresh instance per call', micros(bundleMs));

// A whole `sigward.mjs verify-bundle` process, as a conformance harness runs it.
const cli = path.join(here, 'sigward.mjs');
const args = [cli, 'verify-bundle', '--bundle', path.join(bundleDir, 'happy-path-v0.3/bundle.sigstore.json'),
  '--certificate-identity', DEFAULT_IDENTITY, '--certificate-oidc-issuer', DEFAULT_ISSUER, path.join(bundleDir, 'a.txt')];
const processMs = time(10, () => {
  if (spawnSync(process.execPath, args).status !== 0) throw new Error('sigward.mjs verify-bundle failed');
});
row('Node: whole `sigward.mjs verify-bundle` process (keyless, happy-path-v0.3)', millis(processMs));
