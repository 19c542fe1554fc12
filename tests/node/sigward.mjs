#!/usr/bin/env node
// `sigward` in Node: the same policy component, run by V8 through jco instead of wasmtime,
// behind the command-line protocol of the Rust binary, so anything that drives one drives the
// other:
//
//   sigward.mjs verify-bundle [--staging] --bundle FILE
//       (--certificate-identity ID --certificate-oidc-issuer URL | --key KEY)
//       [--trusted-root FILE] [--json] FILE_OR_DIGEST
//   sigward.mjs verify [--key KEY]... [--certificate-identity[-regexp] ... --certificate-oidc-issuer[-regexp] ...]
//       [--trusted-root FILE | --staging] [--insecure-ignore-tlog[=BOOL]] [-a KEY=VALUE]...
//       [--signature-repository REPO] [--timeout DURATION] [--output text|json] IMAGE
//   sigward.mjs verify-attestation [--type PREDICATE_TYPE] (as verify) IMAGE
//
// IMAGE is a registry reference (plain HTTP on loopback only) or `oci:DIR[:TAG|@DIGEST]`.
// Exit 0: verified; 1: not verified; 2: the request could not be decided. Reports, text and
// JSON, are those of the Rust binary.

import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Denial, Engine, EngineError } from './engine.mjs';
import { EMBEDDED_ROOTS, Fetcher } from './fetcher.mjs';

const EXIT_OK = 0;
const EXIT_NOT_VERIFIED = 1;
const EXIT_ERROR = 2;

const TRUST_OPTIONS = {
  'trusted-root': { type: 'string' },
  staging: { type: 'boolean' },
};

const IDENTITY_OPTIONS = {
  'certificate-identity': { type: 'string' },
  'certificate-identity-regexp': { type: 'string' },
  'certificate-oidc-issuer': { type: 'string' },
  'certificate-oidc-issuer-regexp': { type: 'string' },
};

/** A usage error: exit 2 with the message. */
class UsageError extends Error {}

function now() {
  return BigInt(Math.floor(Date.now() / 1000));
}

/** The trust roots and the name of the chosen one, as the Rust CLI's `--trusted-root`/`--staging`. */
function trust(values) {
  if (values['trusted-root']) {
    return { roots: { ...EMBEDDED_ROOTS, file: values['trusted-root'] }, name: 'file' };
  }
  return { roots: EMBEDDED_ROOTS, name: values.staging ? 'staging' : 'production' };
}

function identityGiven(values) {
  return Object.keys(IDENTITY_OPTIONS).some((flag) => values[flag] !== undefined);
}

/** A keyless identity from the flags; identity and issuer are both required, as in cosign. */
function identity(values) {
  const matcher = (exact, regexp, what) => {
    if (values[exact] !== undefined) return { tag: 'exact', val: values[exact] };
    if (values[regexp] !== undefined) return { tag: 'regexp', val: values[regexp] };
    throw new UsageError(`--${exact} or --${regexp} is required for ${what}`);
  };
  return {
    subject: matcher('certificate-identity', 'certificate-identity-regexp', 'keyless verification'),
    issuer: matcher('certificate-oidc-issuer', 'certificate-oidc-issuer-regexp', 'keyless verification'),
    githubWorkflow: {},
  };
}

function readText(file, flag) {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`reading ${flag} ${file}: ${err.message}`);
  }
}

function firstFailure(checks) {
  const failed = checks.find((check) => check.outcome === 'fail');
  return failed ? `${failed.name}: ${failed.detail}` : '';
}

function verifyBundle(engine, args) {
  const { values, positionals } = parseArgs({
    args,
    options: { ...TRUST_OPTIONS, ...IDENTITY_OPTIONS, bundle: { type: 'string' }, key: { type: 'string' }, json: { type: 'boolean' } },
    allowPositionals: true,
  });
  if (!values.bundle || positionals.length !== 1) throw new UsageError('verify-bundle needs --bundle FILE and one FILE_OR_DIGEST');
  const bundle = readFileSync(values.bundle);
  const [input] = positionals;
  const artifact =
    /^sha256:[0-9a-fA-F]{64}$/.test(input) && !existsSync(input)
      ? { tag: 'digest', val: input.toLowerCase() }
      : { tag: 'bytes', val: new Uint8Array(readFileSync(input)) };
  const { roots, name } = trust(values);
  const authority = values.key
    ? { tag: 'key', val: readText(values.key, '--key') }
    : { tag: 'keyless', val: { identities: [identity(values)], trustedRoot: name } };
  const report = engine.verifyBundle({ bundle: new Uint8Array(bundle), artifact, authority, trustedRoot: name, at: now() }, new Fetcher(roots));
  if (values.json) console.log(JSON.stringify(report, null, 2));
  if (report.verified) {
    console.error(`OK: ${values.bundle}`);
    return EXIT_OK;
  }
  console.error(`NOT verified: ${report.reason} (${firstFailure(report.checks)})`);
  return EXIT_NOT_VERIFIED;
}

/** `--insecure-ignore-tlog` alone means true, as cosign's boolean flags do. */
function boolFlags(args) {
  return args.map((arg) => (arg === '--insecure-ignore-tlog' ? '--insecure-ignore-tlog=true' : arg));
}

function verifyImage(engine, args, attestation) {
  const { values, positionals } = parseArgs({
    args: boolFlags(args),
    options: {
      ...TRUST_OPTIONS,
      ...IDENTITY_OPTIONS,
      key: { type: 'string', multiple: true, default: [] },
      'insecure-ignore-tlog': { type: 'string', default: 'false' },
      annotations: { type: 'string', short: 'a', multiple: true, default: [] },
      'signature-repository': { type: 'string' },
      timeout: { type: 'string', default: '3m' },
      output: { type: 'string', default: 'text' },
      type: { type: 'string', default: 'custom' },
    },
    allowPositionals: true,
  });
  const output = values.output;
  if (!['true', 'false'].includes(values['insecure-ignore-tlog'])) {
    throw new UsageError(`--insecure-ignore-tlog=${values['insecure-ignore-tlog']}: true or false`);
  }
  if (!['text', 'json'].includes(output)) throw new UsageError(`--output ${output}: text or json`);
  if (positionals.length !== 1) throw new UsageError('give one IMAGE');
  if (values.key.length === 0 && !identityGiven(values)) throw new UsageError('give --key or a certificate identity');
  const [image] = positionals;
  const { roots, name } = trust(values);
  const authorities = values.key.map((file) => ({ name: file, authority: { tag: 'key', val: readText(file, '--key') } }));
  if (identityGiven(values)) {
    authorities.push({
      name: 'certificate identity',
      authority: { tag: 'keyless', val: { identities: [identity(values)], trustedRoot: name } },
    });
  }
  const annotations = values.annotations.map((pair) => {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`-a ${pair}: KEY=VALUE`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  });
  const check = attestation
    ? { tag: 'attestation', val: values.type }
    : { tag: 'signature' };
  const request = {
    image,
    authorities,
    annotations,
    check,
    tlog: values['insecure-ignore-tlog'] === 'true' ? 'insecure-ignore' : 'require',
    signaturesFrom: values['signature-repository'],
    trustedRoot: name,
    at: now(),
  };
  const fetcher = new Fetcher(roots, duration(values.timeout));
  let report;
  try {
    report = engine.verifyImage(request, fetcher);
  } catch (err) {
    if (!(err instanceof Denial)) throw err;
    report = { verified: false, reason: err.reason, denial: err };
  }
  // Past the deadline, a "no" or an error is the timeout's doing: say so, as the Rust CLI does.
  if (!report.verified && fetcher.expired()) {
    printError(output, new Denial({ reason: 'timeout', message: `gave up after --timeout ${values.timeout} (${report.reason})` }));
    return EXIT_ERROR;
  }
  if (report.denial) {
    printError(output, report.denial);
    return EXIT_ERROR;
  }
  if (output === 'json') {
    console.log(JSON.stringify(report, null, 2));
  } else {
    printText(report);
  }
  return report.verified ? EXIT_OK : EXIT_NOT_VERIFIED;
}

/** `--timeout`: `30s`, `3m`, `1m30s`, `500ms`; a bare number is seconds. */
function duration(text) {
  const units = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/^(\d+(ms|s|m|h))+$/.test(text)) throw new UsageError(`--timeout ${text}: a duration such as 30s, 3m or 500ms`);
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)(ms|s|m|h)/g)) ms += Number(amount) * units[unit];
  return ms;
}

function printText(report) {
  const { image, digest } = report;
  console.log(report.verified ? `Verified ${image} (${digest})` : `NOT verified ${image} (${digest}): ${report.reason}`);
  for (const signature of report.signatures) {
    if (signature.verified) {
      console.log(`  ${signature.source} ${signature.digest}: verified by ${signature.authority}`);
    } else {
      console.log(`  ${signature.source} ${signature.digest}: ${signature.reason ?? '?'} (${firstFailure(signature.checks)})`);
    }
  }
}

function printError(output, denial) {
  if (output === 'json') console.log(JSON.stringify({ error: denial }));
  else console.error(`error: ${denial.message}`);
}

async function main(argv) {
  const [command, ...args] = argv;
  const engine = await new Engine().load();
  switch (command) {
    case 'verify-bundle':
      return verifyBundle(engine, args);
    case 'verify':
      return verifyImage(engine, args, false);
    case 'verify-attestation':
      return verifyImage(engine, args, true);
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}: verify, verify-attestation or verify-bundle`);
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (err instanceof Denial) {
    console.error(`error: ${err.message}`);
  } else if (err instanceof EngineError) {
    console.error(`error: component-unavailable: ${err.message}`);
  } else if (err instanceof UsageError || err?.code?.startsWith?.('ERR_PARSE_ARGS')) {
    console.error(`error: ${err.message}`);
  } else {
    console.error(`error: internal: ${err?.stack ?? err}`);
  }
  process.exitCode = EXIT_ERROR;
}
