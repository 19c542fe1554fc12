// What the Node engine's fetcher needs from a place images live: an OCI registry (plain
// `fetch`, HTTP only on loopback) or an OCI image layout on disk. Both implement one small
// interface, and the signature material attached to an image is collected from either by
// the same code (`collect`), with the limits sigward's own host applies:
//
//   resolve(reference)         -> {mediaType, bytes}   the manifest, exactly as stored
//   attachment(digest, suffix) -> bytes | null         the `sha256-<hex>.sig` / `.att` manifest
//   referrers(digest)          -> descriptors          OCI referrers (API, then the tag schema)
//   manifest(digest)           -> bytes                a manifest by digest
//   blob(digest, max)          -> bytes                a blob, reading at most `max` bytes
//
// Every manifest fetched by digest for the host's own use is hashed against its digest; blobs
// are handed to the component as they are, since it re-hashes each against its descriptor.
// docs/formats/oci.md in the repository says where each rule comes from.

import { createHash } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';

/** Limits, as sigward's host has them (host/src/registry/limits.rs). */
export const LIMITS = {
  manifestBytes: 4 * 1024 * 1024,
  blobBytes: 16 * 1024 * 1024,
  layers: 1000,
  requestMs: 10_000,
  verificationBytes: 64 * 1024 * 1024,
};

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const MANIFEST_TYPES = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];
const BUNDLE_PREFIX = 'application/vnd.dev.sigstore.bundle';

/** A `fetch-error` of the WIT: jco hands `payload` to the guest as the error value. */
export class FetchError extends Error {
  constructor(tag, message) {
    super(`${tag}: ${message}`);
    this.payload = { tag, val: message };
  }
}

const invalid = (message) => new FetchError('invalid', message);

/** `sha256:<64 lowercase hex>`, or a FetchError. */
function hexOf(digest) {
  const found = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!found) throw invalid(`not a sha256 digest: ${JSON.stringify(digest)}`);
  return found[1];
}

function sha256(bytes) {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function checkDigest(digest, bytes, what) {
  if (sha256(bytes) !== digest) throw invalid(`${what}: content does not match its digest`);
}

function parseJson(bytes, what) {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw invalid(`${what}: ${err.message}`);
  }
}

/**
 * A manifest as the component gets it: the bytes, and the media type they declare (an index
 * when undeclared with `manifests`, else an image manifest), as sigward's host serves them
 * (host/src/registry/manifest.rs `served`). A registry's `Content-Type` is not used: the
 * component checks the declared type against the content either way.
 */
function served(bytes, what) {
  const declared = parseJson(bytes, what);
  const mediaType = declared?.mediaType ?? (declared?.manifests ? OCI_INDEX : OCI_MANIFEST);
  return { mediaType: String(mediaType), bytes };
}

/**
 * What one verification may still spend: bytes (host/src/registry/budget.rs) and time. `signal`
 * aborts when the verification's deadline passes; every request and file read honours it.
 */
export class Budget {
  constructor(bytes = LIMITS.verificationBytes, ms = LIMITS.requestMs) {
    this.left = bytes;
    this.signal = AbortSignal.timeout(Math.max(0, ms));
  }

  take(size, what) {
    if (size > this.left) {
      throw new FetchError('too-large', `${what}: the verification's ${LIMITS.verificationBytes}-byte budget is spent`);
    }
    this.left -= size;
  }

  /** Throws `unavailable` once the deadline has passed. */
  checkTime(what) {
    if (this.signal.aborted) throw new FetchError('unavailable', `${what}: the verification's deadline passed`);
  }
}

function checkSize(size, limit, what) {
  if (!Number.isSafeInteger(size) || size < 0) throw invalid(`${what}: bad size ${size}`);
  if (size > limit) throw new FetchError('too-large', `${what}: ${size} bytes, more than ${limit}`);
  return size;
}

// ---------------------------------------------------------------------------------------------
// References

/** `oci:DIR[:TAG]` / `oci:DIR@sha256:…`, as sigward's host reads them. */
function layoutReference(rest) {
  const at = rest.lastIndexOf('@');
  if (at >= 0) return { dir: rest.slice(0, at), digest: rest.slice(at + 1) };
  const colon = rest.lastIndexOf(':');
  const tag = colon >= 0 ? rest.slice(colon + 1) : '';
  if (/^[\w][\w.-]{0,127}$/.test(tag)) return { dir: rest.slice(0, colon), tag };
  return { dir: rest };
}

/**
 * `[host[:port]/]path[:tag][@digest]` with Docker Hub's defaults (the distribution reference
 * grammar; docs/formats/image-references.md). The guest reads the repository from the string
 * itself: this only decides where to fetch from.
 */
export function registryReference(image) {
  let rest = image;
  let digest;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  let registry;
  let repository;
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first;
    repository = rest.slice(slash + 1);
  } else {
    registry = 'index.docker.io';
    repository = slash >= 0 ? rest : `library/${rest}`;
  }
  if (['docker.io', 'registry-1.docker.io'].includes(registry)) registry = 'index.docker.io';
  if (!/^[a-z0-9]+([._/-]+[a-z0-9]+)*$/.test(repository)) {
    throw invalid(`image reference ${JSON.stringify(image)}: bad repository`);
  }
  if (digest !== undefined) hexOf(digest);
  return { registry, repository, reference: digest ?? tag ?? 'latest' };
}

/** The store an image reference names: a layout for `oci:`, else its registry repository. */
export async function storeFor(image, budget) {
  if (image.startsWith('oci:')) {
    const { dir, tag, digest } = layoutReference(image.slice(4));
    const layout = await Layout.open(dir, budget);
    return { store: layout, reference: digest ?? tag ?? null };
  }
  const { registry, repository, reference } = registryReference(image);
  return { store: new Registry(registry, repository, budget), reference };
}

// ---------------------------------------------------------------------------------------------
// Registries

/** Whether `host[:port]` is this machine, where plain HTTP is allowed. */
function isLoopback(registry) {
  const host = registry.startsWith('[') ? registry.slice(1, registry.indexOf(']')) : registry.split(':')[0];
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** One repository of an OCI distribution registry, anonymous. */
export class Registry {
  constructor(registry, repository, budget) {
    const host = registry === 'index.docker.io' ? 'registry-1.docker.io' : registry;
    this.base = `${isLoopback(registry) ? 'http' : 'https'}://${host}/v2/${repository}`;
    this.budget = budget;
  }

  /** GETs `path`; null on 404; else `{response, bytes}` with at most `max` bytes read. */
  async get(urlPath, accept, max) {
    const url = `${this.base}/${urlPath}`;
    let response;
    try {
      response = await fetch(url, {
        headers: { accept },
        redirect: 'follow',
        signal: AbortSignal.any([AbortSignal.timeout(LIMITS.requestMs), this.budget.signal]),
      });
    } catch (err) {
      throw new FetchError('unavailable', `${url}: ${err.cause?.message ?? err.message}`);
    }
    if (response.status === 404) {
      await response.body?.cancel();
      return null;
    }
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      throw new FetchError('denied', `${url}: HTTP ${response.status}`);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new FetchError('unavailable', `${url}: HTTP ${response.status}`);
    }
    const advertised = response.headers.get('content-length');
    if (advertised !== null) {
      try {
        checkSize(Number(advertised), max, url);
      } catch (err) {
        await response.body?.cancel();
        throw err;
      }
    }
    const chunks = [];
    let size = 0;
    try {
      for await (const chunk of response.body) {
        size += chunk.length;
        if (size > max) {
          await response.body.cancel();
          throw new FetchError('too-large', `${url}: more than ${max} bytes`);
        }
        chunks.push(chunk);
      }
    } catch (err) {
      if (err instanceof FetchError) throw err;
      throw new FetchError('unavailable', `${url}: ${err.message}`);
    }
    this.budget.take(size, url);
    return { response, bytes: new Uint8Array(Buffer.concat(chunks)) };
  }

  async resolve(reference) {
    const got = await this.get(`manifests/${reference}`, MANIFEST_TYPES.join(', '), LIMITS.manifestBytes);
    if (!got) throw new FetchError('not-found', `${this.base}/manifests/${reference}`);
    return served(got.bytes, `manifest ${reference}`);
  }

  async attachment(digest, suffix) {
    const got = await this.get(`manifests/sha256-${hexOf(digest)}.${suffix}`, `${OCI_MANIFEST}, ${DOCKER_MANIFEST}`, LIMITS.manifestBytes);
    return got?.bytes ?? null;
  }

  async referrers(digest) {
    hexOf(digest);
    const api = await this.get(`referrers/${digest}`, OCI_INDEX, LIMITS.manifestBytes);
    const index = api ?? (await this.get(`manifests/sha256-${hexOf(digest)}`, OCI_INDEX, LIMITS.manifestBytes));
    if (!index) return [];
    return parseJson(index.bytes, `referrers of ${digest}`).manifests ?? [];
  }

  async manifest(digest) {
    const got = await this.get(`manifests/${digest}`, MANIFEST_TYPES.join(', '), LIMITS.manifestBytes);
    if (!got) throw new FetchError('not-found', `manifest ${digest}`);
    return got.bytes;
  }

  async blob(digest, max) {
    const got = await this.get(`blobs/${digest}`, '*/*', max);
    if (!got) throw new FetchError('not-found', `blob ${digest}`);
    return got.bytes;
  }
}

// ---------------------------------------------------------------------------------------------
// Image layouts

const REF_NAME = 'org.opencontainers.image.ref.name';
const KIND = 'kind';
const COSIGN_IMAGE = ['dev.cosignproject.cosign/image', 'dev.cosignproject.cosign/imageIndex'];
const COSIGN_ATTACHMENT = { sig: 'dev.cosignproject.cosign/sigs', att: 'dev.cosignproject.cosign/atts' };

/**
 * An OCI image layout (`index.json`, `blobs/sha256/<hex>`). Signatures are found as sigward's
 * host finds them: under the tags a registry would use, or as `cosign save` annotates them.
 */
export class Layout {
  static async open(dir, budget) {
    const layout = new Layout(dir, budget);
    const bytes = await layout.read(path.join(dir, 'index.json'), LIMITS.manifestBytes);
    layout.entries = parseJson(bytes, `${dir}/index.json`).manifests ?? [];
    return layout;
  }

  constructor(dir, budget) {
    this.dir = dir;
    this.budget = budget;
  }

  /** Reads a file, refusing one larger than `max`. */
  async read(file, max) {
    this.budget.checkTime(file);
    let handle;
    try {
      handle = await open(file, 'r');
    } catch (err) {
      if (err.code === 'ENOENT') throw new FetchError('not-found', file);
      throw new FetchError('unavailable', `${file}: ${err.message}`);
    }
    try {
      const { size } = await handle.stat();
      checkSize(size, max, file);
      this.budget.take(size, file);
      return new Uint8Array(await readFile(handle));
    } finally {
      await handle.close();
    }
  }

  entry(wanted) {
    return this.entries.find(wanted);
  }

  tagged(tag) {
    return this.entry((entry) => entry.annotations?.[REF_NAME] === tag);
  }

  /** The layout's one image: cosign's `kind` image, or the only entry that is not an attachment. */
  onlyImage() {
    const cosign = this.entries.filter((entry) => COSIGN_IMAGE.includes(entry.annotations?.[KIND]));
    const candidates = cosign.length > 0 ? cosign : this.entries.filter((entry) => !isAttachment(entry));
    if (candidates.length === 1) return candidates[0];
    if (candidates.length === 0) throw new FetchError('not-found', `an image in image layout ${this.dir}`);
    throw invalid(`image layout ${this.dir} holds ${candidates.length} images; name one with oci:DIR:TAG or oci:DIR@DIGEST`);
  }

  async checkedManifest(digest, size) {
    const bytes = await this.manifest(digest);
    checkDigest(digest, bytes, `manifest ${digest}`);
    if (size !== undefined && bytes.length !== size) throw invalid(`manifest ${digest}: size differs from index.json`);
    return bytes;
  }

  async resolve(reference) {
    let entry;
    if (reference === null) entry = this.onlyImage();
    else if (reference.startsWith('sha256:')) entry = this.entry((e) => e.digest === reference) ?? { digest: reference };
    else entry = this.tagged(reference);
    if (!entry) throw new FetchError('not-found', `tag ${reference} in image layout ${this.dir}`);
    return served(await this.checkedManifest(entry.digest, entry.size), `manifest ${entry.digest}`);
  }

  async attachment(digest, suffix) {
    const tag = `sha256-${hexOf(digest)}.${suffix}`;
    let entry = this.tagged(tag);
    if (!entry && this.entry((e) => COSIGN_IMAGE.includes(e.annotations?.[KIND]) && e.digest === digest)) {
      entry = this.entry((e) => e.annotations?.[KIND] === COSIGN_ATTACHMENT[suffix]);
    }
    return entry ? this.checkedManifest(entry.digest, entry.size) : null;
  }

  async referrers(digest) {
    const entry = this.tagged(`sha256-${hexOf(digest)}`);
    if (!entry) return [];
    const bytes = await this.checkedManifest(entry.digest, entry.size);
    return parseJson(bytes, `referrers of ${digest}`).manifests ?? [];
  }

  manifest(digest) {
    return this.blob(digest, LIMITS.manifestBytes);
  }

  blob(digest, max) {
    return this.read(path.join(this.dir, 'blobs', 'sha256', hexOf(digest)), max);
  }
}

function isAttachment(entry) {
  if (Object.values(COSIGN_ATTACHMENT).includes(entry.annotations?.[KIND])) return true;
  return /^sha256-[0-9a-f]{64}(\.sig|\.att)?$/.test(entry.annotations?.[REF_NAME] ?? '');
}

// ---------------------------------------------------------------------------------------------
// Attached material

/** Checks each descriptor's advertised size against `limit` and their sum against the budget. */
function checkTotal(descriptors, limit, budget, what) {
  let total = 0;
  for (const descriptor of descriptors) total += checkSize(descriptor.size, limit, what);
  if (total > budget.left) throw new FetchError('too-large', `${what}: ${total} bytes advertised, more than the budget left`);
}

async function layerBlob(store, descriptor) {
  const size = checkSize(descriptor.size, LIMITS.blobBytes, `blob ${descriptor.digest}`);
  return store.blob(descriptor.digest, size);
}

/** The layers of the `.sig` / `.att` manifest of `digest`; none when there is no such manifest. */
async function layers(store, digest, suffix) {
  const bytes = await store.attachment(digest, suffix);
  if (!bytes) return [];
  const what = `sha256-${hexOf(digest)}.${suffix}`;
  const manifest = parseJson(bytes, what);
  const descriptors = manifest.layers ?? [];
  if (descriptors.length > LIMITS.layers) throw new FetchError('too-large', `${what}: ${descriptors.length} layers`);
  checkTotal(descriptors, LIMITS.blobBytes, store.budget, what);
  const found = [];
  for (const descriptor of descriptors) {
    found.push({
      mediaType: descriptor.mediaType,
      digest: descriptor.digest,
      annotations: Object.entries(descriptor.annotations ?? {}),
      payload: await layerBlob(store, descriptor),
    });
  }
  return found;
}

/** Sigstore bundles attached to `digest` as referrers: image manifests with one bundle layer. */
async function bundles(store, digest) {
  const referrers = await store.referrers(digest);
  const what = `referrers of ${digest}`;
  if (referrers.length > LIMITS.layers) throw new FetchError('too-large', `${what}: ${referrers.length} entries`);
  const manifests = referrers.filter((entry) => [OCI_MANIFEST, DOCKER_MANIFEST].includes(entry.mediaType));
  checkTotal(manifests, LIMITS.manifestBytes, store.budget, what);
  const found = [];
  for (const entry of manifests) {
    const bytes = await store.manifest(entry.digest);
    checkDigest(entry.digest, bytes, `referrer ${entry.digest}`);
    const layers = parseJson(bytes, `referrer ${entry.digest}`).layers ?? [];
    if (layers.length !== 1 || !String(layers[0].mediaType).startsWith(BUNDLE_PREFIX)) continue;
    found.push({ mediaType: layers[0].mediaType, digest: layers[0].digest, bundle: await layerBlob(store, layers[0]) });
  }
  return found;
}

/** The `signature-material` of the requested `kinds` attached to `digest`. */
export async function collect(store, digest, kinds) {
  hexOf(digest);
  const [signatures, attestations, found] = await Promise.all([
    kinds.signatures ? layers(store, digest, 'sig') : [],
    kinds.attestations ? layers(store, digest, 'att') : [],
    kinds.bundles ? bundles(store, digest) : [],
  ]);
  return { signatures, attestations, bundles: found };
}
