// sigward's policy component in Node: the second engine.
//
// `make node` transpiles the portable component (target/components/sigward-policy.wasm) with
// jco into target/node/sigward-policy (`jco transpile --instantiation sync`). This module
// instantiates it with
//   - sigward:policy/fetcher: the caller's fetcher (see fetcher.mjs), synchronous as the WIT
//     functions are;
//   - WASI: jco's preview2-shim for the streams the Rust standard library links in (the
//     verifier never writes to them), an EMPTY environment and argument list (the shim would
//     hand the guest the process's real environment) and a FIXED insecure seed (std seeds
//     HashMap hashing with it; no decision depends on it).
// Every call gets a fresh instance, as in sigward's wasmtime host: no state survives a call.
// The compiled core modules are kept, so only the first call compiles.
//
// Reports are returned in the shape of `sigward verify --output json` and
// `sigward verify-bundle --json`, so the two engines can be compared byte for byte.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { cli, io } from '@bytecodealliance/preview2-shim';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The WIT package version this engine implements (wit/sigward.wit). */
export const WIT_VERSION = '0.3.0';

/** Where `make node` writes the transpiled portable component. */
export const DEFAULT_COMPONENT_DIR = path.resolve(here, '../../target/node/sigward-policy');

/** The seed `wasi:random/insecure-seed` returns: fixed, so runs are reproducible. */
const INSECURE_SEED = [0x7369_6777_6172_64n, 0n];

/** Why the engine could not load a component. */
export class EngineError extends Error {}

/**
 * Refuses core modules that import or export another version of sigward's WIT interfaces:
 * jco drops versions from the import object, so a component built for another contract
 * would otherwise be called with this one's shapes.
 */
function checkVersion(module, file) {
  const names = [
    ...WebAssembly.Module.imports(module).map((entry) => entry.module),
    ...WebAssembly.Module.exports(module).map((entry) => entry.name),
  ];
  for (const name of names) {
    const found = /sigward:policy\/[a-z-]+@([0-9.]+)/.exec(name);
    if (found && found[1] !== WIT_VERSION) {
      throw new EngineError(
        `${file} is built for sigward:policy@${found[1]}; this engine implements @${WIT_VERSION}`,
      );
    }
  }
}

/** The WASI imports: the shim's streams, nothing else of the process. */
function wasiImports() {
  return {
    'wasi:cli/environment': {
      getEnvironment: () => [],
      getArguments: () => [],
      initialCwd: () => undefined,
    },
    'wasi:cli/exit': cli.exit,
    'wasi:cli/stderr': cli.stderr,
    'wasi:cli/stdin': cli.stdin,
    'wasi:cli/stdout': cli.stdout,
    'wasi:cli/terminal-input': cli.terminalInput,
    'wasi:cli/terminal-output': cli.terminalOutput,
    'wasi:cli/terminal-stderr': cli.terminalStderr,
    'wasi:cli/terminal-stdin': cli.terminalStdin,
    'wasi:cli/terminal-stdout': cli.terminalStdout,
    'wasi:io/error': io.error,
    'wasi:io/poll': io.poll,
    'wasi:io/streams': io.streams,
    'wasi:random/insecure-seed': { insecureSeed: () => INSECURE_SEED },
  };
}

/** A request the component refused to decide (`result::err` of an export). */
export class Denial extends Error {
  constructor({ reason, message }) {
    super(`${reason}: ${message}`);
    this.reason = reason;
    this.detail = message;
  }

  /** `{reason, message}`, as the Rust CLI prints a failure. */
  toJSON() {
    return { reason: this.reason, message: this.detail };
  }
}

/** The component, compiled once, instantiated afresh for every call. */
export class Engine {
  constructor(dir = process.env.SIGWARD_NODE_COMPONENT ?? DEFAULT_COMPONENT_DIR) {
    this.dir = dir;
    this.modules = new Map();
  }

  /** Loads the transpiled bindings (`await` once before calling). */
  async load() {
    const file = path.join(this.dir, 'sigward-policy.js');
    try {
      this.bindings = await import(file);
    } catch (err) {
      throw new EngineError(`cannot load ${file} (run make node): ${err.message}`);
    }
    return this;
  }

  coreModule(name) {
    let module = this.modules.get(name);
    if (!module) {
      const file = path.join(this.dir, name);
      try {
        module = new WebAssembly.Module(readFileSync(file));
      } catch (err) {
        // V8 has no wide-arithmetic proposal (`i64.add128` is opcode 0xfc13): the wide build
        // fails here, the portable one is for engines like this.
        throw new EngineError(`${file}: this engine cannot compile it (load the portable build, not -wide): ${err.message}`);
      }
      checkVersion(module, file);
      this.modules.set(name, module);
    }
    return module;
  }

  /** A fresh instance whose `fetcher` import is `fetcher`. */
  instantiate(fetcher) {
    const imports = {
      ...wasiImports(),
      'sigward:policy/fetcher': {
        resolve: (image) => fetcher.resolve(image),
        attached: (image, digest, kinds) => fetcher.attached(image, digest, kinds),
        trustedRoot: (name) => fetcher.trustedRoot(name),
      },
    };
    return this.bindings.instantiate((name) => this.coreModule(name), imports);
  }

  /** `verifier.verify-image`: the report, in the CLI's JSON shape; throws a Denial. */
  verifyImage(request, fetcher) {
    const { verifier } = this.instantiate(fetcher);
    return imageReport(call(() => verifier.verifyImage(request)));
  }

  /** `verifier.verify-bundle`: the report, in the CLI's JSON shape; throws a Denial. */
  verifyBundle(request, fetcher) {
    const { verifier } = this.instantiate(fetcher);
    const report = call(() => verifier.verifyBundle(request));
    return { verified: report.verified, reason: report.reason ?? null, checks: report.checks };
  }
}

/** Calls an export, turning its `result::err` (jco throws it with a `payload`) into a Denial. */
function call(exported) {
  try {
    return exported();
  } catch (err) {
    if (err && Object.hasOwn(err, 'payload')) {
      throw new Denial(err.payload);
    }
    throw err;
  }
}

/** A WIT `report` as `sigward verify --output json` prints it. */
function imageReport(report) {
  return {
    image: report.image,
    digest: report.digest,
    repository: report.repository ?? null,
    verified: report.verified,
    reason: report.reason ?? null,
    signatures: report.signatures.map((signature) => ({
      source: signature.source,
      digest: signature.digest,
      verified: signature.verified,
      authority: signature.authority ?? null,
      reason: signature.reason ?? null,
      checks: signature.checks,
      payload: signature.payload ?? null,
      signer: signature.signer ? signerInfo(signature.signer) : null,
    })),
  };
}

function signerInfo(signer) {
  const extensions = [...signer.extensions].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    subject_alternative_names: signer.subjectAlternativeNames,
    issuer: signer.issuer ?? null,
    extensions: Object.fromEntries(extensions),
  };
}
