// The Node engine's `sigward:policy/fetcher`: images from registries and OCI image layouts
// (through the I/O worker, worker.mjs), trust roots from files. One Fetcher serves one
// verification: it carries that verification's byte budget and deadline.

import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { createSyncFn } from 'synckit';
import { FetchError, LIMITS } from './store.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The trust roots sigward embeds (host/src/trust/roots; where they come from is said there). */
export const EMBEDDED_ROOTS = {
  production: path.resolve(here, '../../host/src/trust/roots/production/trusted_root.json'),
  staging: path.resolve(here, '../../host/src/trust/roots/staging/trusted_root.json'),
};

/** A trusted_root.json is small; this caps what a misnamed file can cost. */
const MAX_TRUST_ROOT_BYTES = 4 * 1024 * 1024;

/** How long one verification may take unless told otherwise (the Rust CLI's `--timeout`). */
export const DEFAULT_TIMEOUT_MS = 180_000;

/** How long past its deadline the fetcher still waits for the worker before giving up. */
const BACKSTOP_MS = 5_000;

let io;

/**
 * The worker's calls, made synchronous. The worker stops at the verification's deadline on its
 * own; the wait here is only a backstop (the first verification's time plus BACKSTOP_MS) so
 * that no bug in the worker can hang the guest. A late answer is discarded by synckit.
 */
function worker(msLeft) {
  io ??= createSyncFn(path.join(here, 'worker.mjs'), { timeout: msLeft + BACKSTOP_MS });
  return io;
}

export class Fetcher {
  /** `roots`: trust-root name -> trusted_root.json path; `timeoutMs`: the whole verification's. */
  constructor(roots = EMBEDDED_ROOTS, timeoutMs = DEFAULT_TIMEOUT_MS) {
    this.roots = roots;
    this.budgetLeft = LIMITS.verificationBytes;
    this.deadline = Date.now() + timeoutMs;
  }

  /** Whether the verification's deadline has passed. */
  expired() {
    return Date.now() >= this.deadline;
  }

  call(operation, ...args) {
    const msLeft = this.deadline - Date.now();
    if (msLeft <= 0) throw new FetchError('unavailable', `${operation}: the verification's deadline passed`);
    let answer;
    try {
      answer = worker(msLeft)(operation, this.budgetLeft, msLeft, ...args);
    } catch (err) {
      throw new FetchError('unavailable', `${operation}: ${err.message}`);
    }
    this.budgetLeft = answer.budgetLeft;
    if (answer.error) throw new FetchError(answer.error.tag, answer.error.val);
    return answer.value;
  }

  /** `fetcher.resolve`: the manifest `image` points to, as stored. */
  resolve(image) {
    return this.call('resolve', image);
  }

  /** `fetcher.attached`: the material of `kinds` attached to `digest` in `image`'s repository. */
  attached(image, digest, kinds) {
    return this.call('attached', image, digest, { ...kinds });
  }

  /** `fetcher.trusted-root`: the trusted_root.json known as `name`. */
  trustedRoot(name) {
    const file = Object.hasOwn(this.roots, name) ? this.roots[name] : undefined;
    if (!file) throw new FetchError('unsupported', `no trust root named ${JSON.stringify(name)}`);
    let fd;
    try {
      fd = openSync(file, 'r');
      if (fstatSync(fd).size > MAX_TRUST_ROOT_BYTES) {
        throw new FetchError('too-large', `${file}: more than ${MAX_TRUST_ROOT_BYTES} bytes`);
      }
      return new Uint8Array(readFileSync(fd));
    } catch (err) {
      if (err instanceof FetchError) throw err;
      throw new FetchError(err.code === 'ENOENT' ? 'not-found' : 'unavailable', `${file}: ${err.message}`);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
}
