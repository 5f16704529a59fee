/**
 * Hugging Face hub downloads with huggingface_hub's cache layout (file_download.py, `hf_hub_download`):
 *
 *   {cacheDir}/models--{org}--{name}/blobs/{etag}                 file contents, named by ETag (sha256 for LFS)
 *   {cacheDir}/models--{org}--{name}/snapshots/{commit}/{file}    symlink → ../../blobs/{etag} (copy if no symlinks)
 *   {cacheDir}/models--{org}--{name}/refs/{revision}              the commit a branch/tag pointed to
 *
 * A HEAD to `{endpoint}/{repo}/resolve/{revision}/{file}` (redirects not followed, so X-Repo-Commit,
 * X-Linked-Etag and X-Linked-Size of the hub's own answer are kept) names the commit and blob; the blob is
 * then downloaded (from the CDN location for LFS files), verified and linked. Python and Atelier share the cache.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fetchToFile } from './download.js';
import { HubError } from './errors.js';
import { isNetworkDown, readBody, request, sleep } from './http.js';

export interface HubOptions {
  /** Hub URL; default `HF_ENDPOINT` or `https://huggingface.co`. */
  endpoint?: string;
  /** Cache root; default: option > `ATELIER_CACHE_DIR` > `HF_HUB_CACHE` > `HF_HOME/hub` > `~/.cache/huggingface/hub`. */
  cacheDir?: string;
  /** Branch, tag or commit; default `main`. */
  revision?: string;
  /** Access token, sent as `Authorization: Bearer`; default `HF_TOKEN`. */
  token?: string;
  /** Progress bar on stderr; default: when stderr is a TTY. */
  progress?: boolean;
  /** Use only the cache (default: `HF_HUB_OFFLINE=1`). */
  offline?: boolean;
}

const COMMIT_RE = /^[0-9a-f]{40}$/;
const SHA256_RE = /^[0-9a-f]{64}$/;

/** The hub cache directory for these options. */
export function hubCacheDir(options: HubOptions = {}): string {
  const env = process.env;
  return (
    options.cacheDir ??
    env.ATELIER_CACHE_DIR ??
    env.HF_HUB_CACHE ??
    (env.HF_HOME ? join(env.HF_HOME, 'hub') : join(homedir(), '.cache', 'huggingface', 'hub'))
  );
}

/** Syntax of a hub model id: `name` or `org/name`. */
function looksLikeRepoId(s: string): boolean {
  if (s === '' || s.startsWith('.') || s.startsWith('/') || s.startsWith('~') || s.includes('\\'))
    return false;
  if (/^[a-zA-Z]:/.test(s)) return false;
  return /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/.test(s) && !s.includes('--') && !s.endsWith('.');
}

/**
 * True for `org/name` or `name` hub ids; false for local paths (`./x`, `/x`, `C:\x`, `~/x`, `a/b/c`) and for
 * anything that exists on disk (a local `checkpoints/run1` wins over a hub id of the same name, as in
 * transformers' `from_pretrained`).
 */
export function isHubId(s: string): boolean {
  return looksLikeRepoId(s) && !existsSync(s);
}

function checkRepoId(repoId: string): void {
  if (!looksLikeRepoId(repoId)) {
    throw new HubError(
      `invalid Hugging Face repo id ${JSON.stringify(repoId)}: expected "name" or "org/name"`,
      repoId,
    );
  }
}

function repoFolder(repoId: string, options: HubOptions): string {
  return join(hubCacheDir(options), `models--${repoId.replace('/', '--')}`);
}

function isOffline(options: HubOptions): boolean {
  if (options.offline !== undefined) return options.offline;
  const v = process.env.HF_HUB_OFFLINE?.toLowerCase();
  return v === '1' || v === 'true' || v === 'yes' || v === 'on';
}

function endpointOf(options: HubOptions): string {
  return (options.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
}

function resolveUrl(repoId: string, filename: string, options: HubOptions): string {
  const rev = encodeURIComponent(options.revision ?? 'main');
  const file = filename.split('/').map(encodeURIComponent).join('/');
  return `${endpointOf(options)}/${repoId}/resolve/${rev}/${file}`;
}

function authHeaders(options: HubOptions): Record<string, string> {
  const token = options.token ?? process.env.HF_TOKEN;
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** The cached snapshot path of a file for a revision, if present. */
function cachedPath(repoId: string, filename: string, options: HubOptions): string | undefined {
  const folder = repoFolder(repoId, options);
  const revision = options.revision ?? 'main';
  let commit = revision;
  if (!COMMIT_RE.test(revision)) {
    const ref = join(folder, 'refs', revision);
    if (!existsSync(ref)) return undefined;
    commit = readFileSync(ref, 'utf8').trim();
  }
  const path = join(folder, 'snapshots', commit, filename);
  return existsSync(path) ? path : undefined;
}

function normalizeEtag(etag: string | undefined): string | undefined {
  return etag?.replace(/^W\//, '').replace(/^"|"$/g, '') || undefined;
}

function header(headers: Record<string, unknown>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : typeof v === 'string' ? v : undefined;
}

/** A clear error for a hub status code. */
function statusError(
  status: number,
  url: string,
  repoId: string,
  filename: string,
  revision: string,
  headers: Record<string, unknown>,
  body = '',
): HubError {
  const code = header(headers, 'x-error-code');
  const where = `${filename} in ${repoId} at revision ${revision}`;
  if (status === 401 || status === 403 || code === 'GatedRepo') {
    const gated = code === 'GatedRepo' ? ' The repository is gated: accept its terms on the hub.' : '';
    return new HubError(
      `HTTP ${status} for ${where} (${url}): the repository is gated, private or does not exist.${gated} If you have access, set HF_TOKEN (or options.token) to a token that can read it.`,
      url,
      status,
    );
  }
  if (status === 404) {
    const what =
      code === 'RepoNotFound'
        ? `repository ${repoId} not found`
        : code === 'RevisionNotFound'
          ? `revision ${revision} not found in ${repoId}`
          : `file ${filename} not found in ${repoId} at revision ${revision}`;
    return new HubError(`HTTP 404: ${what} (${url})`, url, status);
  }
  const detail = body.trim() ? `: ${body.trim().slice(0, 200)}` : '';
  return new HubError(`HTTP ${status} for ${where} (${url})${detail}`, url, status);
}

interface FileMetadata {
  commit: string;
  etag: string;
  size?: number;
  /** Where to GET the bytes (a CDN URL for LFS files). */
  location: string;
}

/** HEAD the resolve URL, following only relative (same-hub) redirects; retries 5xx and resets. */
async function fileMetadata(
  url: string,
  repoId: string,
  filename: string,
  options: HubOptions,
): Promise<FileMetadata> {
  const revision = options.revision ?? 'main';
  let target = url;
  for (let attempt = 0, hop = 0; ; ) {
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(target, {
        method: 'HEAD',
        headers: { 'accept-encoding': 'identity', ...authHeaders(options) },
      });
    } catch (err) {
      if (++attempt < 3 && !['ECONNREFUSED', 'ENOTFOUND'].includes((err as { code?: string }).code ?? '')) {
        await sleep(200 * attempt);
        continue;
      }
      throw err;
    }
    res.resume();
    const status = res.statusCode ?? 0;
    const location = header(res.headers, 'location');
    if (status >= 300 && status < 400 && location?.startsWith('/')) {
      // Renamed repository: the hub answers with a relative redirect; follow it.
      if (++hop > 10) throw new HubError(`too many redirects for ${url}`, url, status);
      target = new URL(location, target).toString();
      continue;
    }
    if (status >= 500 && ++attempt < 3) {
      await sleep(200 * attempt);
      continue;
    }
    if (status >= 400)
      throw statusError(status, url, repoId, filename, revision, res.headers, await readBody(res));
    const commit = header(res.headers, 'x-repo-commit');
    const etag = normalizeEtag(header(res.headers, 'x-linked-etag') ?? header(res.headers, 'etag'));
    const sizeText = header(res.headers, 'x-linked-size') ?? header(res.headers, 'content-length');
    if (commit === undefined || etag === undefined) {
      throw new HubError(
        `${url}: the server sent no ${commit === undefined ? 'X-Repo-Commit' : 'ETag'} header; is ${endpointOf(options)} a Hugging Face hub?`,
        url,
        status,
      );
    }
    return {
      commit,
      etag,
      size: sizeText === undefined ? undefined : Number(sizeText),
      location: location ? new URL(location, target).toString() : target,
    };
  }
}

/** Point `snapshots/{commit}/{filename}` at the blob: a relative symlink, or a copy where symlinks fail. */
function linkSnapshot(blob: string, pointer: string): void {
  mkdirSync(dirname(pointer), { recursive: true });
  const tmp = `${pointer}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  try {
    symlinkSync(relative(dirname(pointer), blob), tmp);
  } catch {
    copyFileSync(blob, tmp);
  }
  renameSync(tmp, pointer);
}

/**
 * Download one file of a hub model repository (or take it from the cache) and return its local path
 * (`…/snapshots/{commit}/{filename}`). Works offline from the cache when `offline` or when the hub is unreachable.
 */
export async function hubDownload(
  repoId: string,
  filename: string,
  options: HubOptions = {},
): Promise<string> {
  checkRepoId(repoId);
  const revision = options.revision ?? 'main';
  const folder = repoFolder(repoId, options);
  const url = resolveUrl(repoId, filename, options);
  if (COMMIT_RE.test(revision)) {
    const hit = cachedPath(repoId, filename, options);
    if (hit) return hit;
  }
  if (isOffline(options)) {
    const hit = cachedPath(repoId, filename, options);
    if (hit) return hit;
    throw new HubError(
      `offline mode (HF_HUB_OFFLINE=1 or options.offline): ${filename} of ${repoId} at revision ${revision} is not in the cache ${hubCacheDir(options)}`,
      url,
    );
  }
  let meta: FileMetadata;
  try {
    meta = await fileMetadata(url, repoId, filename, options);
  } catch (err) {
    if (err instanceof HubError || !isNetworkDown(err)) {
      if (err instanceof HubError) throw err;
      throw new HubError(`HEAD ${url} failed: ${(err as Error).message}`, url, undefined, { cause: err });
    }
    const hit = cachedPath(repoId, filename, options);
    if (hit) return hit;
    throw new HubError(
      `cannot reach ${endpointOf(options)} (${(err as Error).message}) and ${filename} of ${repoId} at revision ${revision} is not in the cache ${hubCacheDir(options)}`,
      url,
      undefined,
      { cause: err },
    );
  }
  if (meta.commit !== revision) {
    const ref = join(folder, 'refs', revision); // may be nested: refs/pr/1
    mkdirSync(dirname(ref), { recursive: true });
    if (!existsSync(ref) || readFileSync(ref, 'utf8') !== meta.commit) {
      writeFileSync(`${ref}.${process.pid}.tmp`, meta.commit);
      renameSync(`${ref}.${process.pid}.tmp`, ref);
    }
  }
  const pointer = join(folder, 'snapshots', meta.commit, filename);
  if (existsSync(pointer)) return pointer;
  const blob = join(folder, 'blobs', meta.etag);
  if (!existsSync(blob)) {
    // The token goes to the hub only, never to the CDN that LFS files redirect to.
    const sameHost = new URL(meta.location).host === new URL(url).host;
    await fetchToFile(meta.location, blob, {
      headers: sameHost ? authHeaders(options) : {},
      size: meta.size,
      sha256: SHA256_RE.test(meta.etag) ? meta.etag : undefined,
      progress: options.progress,
      label: filename,
      describeStatus: (status, u, body, headers) =>
        statusError(status, u, repoId, filename, revision, headers, body),
    });
  }
  linkSnapshot(blob, pointer);
  return pointer;
}

/**
 * Download several files of one revision; returns the snapshot directory holding them. Files listed in
 * `optional` that the repository lacks (404) are skipped.
 */
export async function snapshotDownload(
  repoId: string,
  filenames: string[],
  options: HubOptions & { optional?: string[] } = {},
): Promise<string> {
  const { optional = [], ...hub } = options;
  let dir: string | undefined;
  const note = (path: string, filename: string) => {
    dir ??= path.slice(0, path.length - filename.length - 1);
  };
  for (const f of filenames) note(await hubDownload(repoId, f, hub), f);
  for (const f of optional) {
    try {
      note(await hubDownload(repoId, f, hub), f);
    } catch (err) {
      const missingOffline =
        err instanceof HubError && err.status === undefined && /not in the cache/.test(err.message);
      if (!(err instanceof HubError && err.status === 404) && !missingOffline) throw err;
    }
  }
  if (dir === undefined) {
    // Nothing downloaded (only optional files, all absent): still name the snapshot directory.
    const meta = await fileMetadata(resolveUrl(repoId, 'config.json', hub), repoId, 'config.json', hub).catch(
      () => undefined,
    );
    const commit = meta?.commit ?? options.revision ?? 'main';
    dir = join(repoFolder(repoId, hub), 'snapshots', commit);
    mkdirSync(dir, { recursive: true });
  }
  return dir;
}

/** Whether the repository has this file at the revision (HEAD; offline: whether the cache has it). */
export async function hubFileExists(
  repoId: string,
  filename: string,
  options: HubOptions = {},
): Promise<boolean> {
  checkRepoId(repoId);
  if (isOffline(options)) return cachedPath(repoId, filename, options) !== undefined;
  const url = resolveUrl(repoId, filename, options);
  try {
    await fileMetadata(url, repoId, filename, options);
    return true;
  } catch (err) {
    if (err instanceof HubError && err.status === 404) return false;
    if (!(err instanceof HubError) && isNetworkDown(err))
      return cachedPath(repoId, filename, options) !== undefined;
    throw err;
  }
}
