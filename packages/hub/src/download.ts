/**
 * Resumable download of one URL into a file: `<dest>.incomplete` grows across attempts (a `Range: bytes=N-`
 * request resumes it; a 200 answer restarts it), then size and SHA-256 are checked and the file is renamed
 * into place. Transient failures (connection reset, truncated body, 5xx) are retried with backoff.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { HubError } from './errors.js';
import { isTransient, readBody, request, sleep } from './http.js';
import { createProgress } from './progress.js';

export interface FetchToFileOptions {
  headers?: Record<string, string>;
  /** Expected size in bytes (verified). */
  size?: number;
  /** Expected SHA-256, 64 hex (verified; a mismatch deletes the file). */
  sha256?: string;
  progress?: boolean;
  label?: string;
  /** Attempts for transient failures (default 5), first backoff delay (default 500 ms, doubling). */
  retries?: number;
  retryDelayMs?: number;
  /** Turns a non-2xx status into a helpful error (hub-specific messages). */
  describeStatus?: (status: number, url: string, body: string, headers: Record<string, unknown>) => HubError;
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** SHA-256 of a file, hex. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

const MAX_REDIRECTS = 10;

const inFlight = new Map<string, Promise<void>>();

/**
 * Download `url` to `dest` (atomically; resumes `dest.incomplete`). Concurrent calls for the same `dest` in
 * this process share one download; other processes are kept out by a `dest.lock` file (pid inside; a lock
 * whose process is gone is taken over), as huggingface_hub does with its FileLock.
 */
export function fetchToFile(url: string, dest: string, options: FetchToFileOptions = {}): Promise<void> {
  let p = inFlight.get(dest);
  if (p === undefined) {
    p = withLock(dest, () =>
      existsSync(dest) ? Promise.resolve() : fetchUnlocked(url, dest, options),
    ).finally(() => inFlight.delete(dest));
    inFlight.set(dest, p);
  }
  return p;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

async function withLock<T>(dest: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dirname(dest), { recursive: true });
  const lock = `${dest}.lock`;
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
      let owner = Number.NaN;
      try {
        owner = Number(readFileSync(lock, 'utf8'));
      } catch {
        continue; // released meanwhile
      }
      // Our own pid here means a crashed earlier run of this process id; a dead pid, a stale lock.
      if (!Number.isInteger(owner) || owner === process.pid || !pidAlive(owner))
        rmSync(lock, { force: true });
      else await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

async function fetchUnlocked(url: string, dest: string, options: FetchToFileOptions): Promise<void> {
  const partial = `${dest}.incomplete`;
  const retries = options.retries ?? Number(process.env.ATELIER_HUB_RETRIES ?? 5);
  const baseDelay = options.retryDelayMs ?? Number(process.env.ATELIER_HUB_RETRY_DELAY_MS ?? 500);
  let attempt = 0;
  let lastError: unknown;
  for (;;) {
    try {
      const complete = await attemptDownload(url, partial, options);
      if (complete) break;
      lastError = new Error('connection closed before the whole file arrived');
    } catch (err) {
      if (err instanceof HubError && !(err.status !== undefined && err.status >= 500)) throw err;
      if (!(err instanceof HubError) && !isTransient(err)) {
        throw new HubError(`download of ${url} failed: ${(err as Error).message}`, url, undefined, {
          cause: err,
        });
      }
      lastError = err;
    }
    attempt++;
    if (attempt >= retries) {
      const status = lastError instanceof HubError ? lastError.status : undefined;
      throw new HubError(
        `download of ${url} failed after ${attempt} attempts: ${(lastError as Error).message} (partial data kept in ${partial}; run again to resume)`,
        url,
        status,
        { cause: lastError },
      );
    }
    await sleep(baseDelay * 2 ** (attempt - 1));
  }
  const got = sizeOf(partial);
  if (options.size !== undefined && got !== options.size) {
    rmSync(partial, { force: true });
    throw new HubError(
      `size mismatch for ${url}: expected ${options.size} bytes, got ${got}; deleted the download`,
      url,
    );
  }
  if (options.sha256 !== undefined) {
    const actual = await sha256File(partial);
    if (actual !== options.sha256.toLowerCase()) {
      rmSync(partial, { force: true });
      throw new HubError(
        `checksum mismatch for ${url}: expected sha256 ${options.sha256}, got ${actual}; deleted the corrupt download`,
        url,
      );
    }
  }
  renameSync(partial, dest);
}

/** One GET (following redirects); returns true when the body arrived in full. */
async function attemptDownload(url: string, partial: string, options: FetchToFileOptions): Promise<boolean> {
  let start = sizeOf(partial);
  if (options.size !== undefined && start > options.size) {
    rmSync(partial, { force: true });
    start = 0;
  }
  if (options.size !== undefined && start === options.size && start > 0) return true;
  let target = url;
  let res = undefined as Awaited<ReturnType<typeof request>> | undefined;
  const originalHost = new URL(url).host;
  for (let hop = 0; ; hop++) {
    const headers: Record<string, string> = { 'accept-encoding': 'identity', ...options.headers };
    // Never send credentials to another host (LFS files redirect to a CDN with a signed URL).
    if (new URL(target).host !== originalHost) delete headers.authorization;
    if (start > 0) headers.range = `bytes=${start}-`;
    res = await request(target, { headers });
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      if (hop >= MAX_REDIRECTS) throw new HubError(`too many redirects from ${url}`, url, status);
      target = new URL(res.headers.location, target).toString();
      continue;
    }
    break;
  }
  const status = res.statusCode ?? 0;
  if (status === 416 && start > 0) {
    // Our partial file is not a prefix the server can continue: start over.
    res.resume();
    rmSync(partial, { force: true });
    return false;
  }
  if (status !== 200 && status !== 206) {
    const body = await readBody(res);
    throw (
      options.describeStatus?.(status, target, body, res.headers) ??
      new HubError(
        `GET ${target} failed: HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ''}`,
        url,
        status,
      )
    );
  }
  let offset = start;
  if (status === 200 && start > 0) offset = 0; // server ignored Range: restart from scratch
  if (status === 206) {
    const range = /bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
    if (range === null || Number(range[1]) !== start) {
      res.resume();
      throw new HubError(
        `GET ${target}: 206 with Content-Range ${res.headers['content-range']}, expected start ${start}`,
        url,
        status,
      );
    }
  }
  const length = Number(res.headers['content-length'] ?? Number.NaN);
  const total = options.size ?? (Number.isFinite(length) ? offset + length : undefined);
  const bar = createProgress(options.label ?? url, total, offset, options.progress);
  let written = offset;
  // Write each chunk synchronously as it arrives, so a dropped connection leaves every received byte on
  // disk for the next attempt to resume from.
  const fd = openSync(partial, offset > 0 ? 'a' : 'w');
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => {
        res.destroy();
        reject(err);
      };
      res.on('data', (chunk: Buffer) => {
        try {
          writeSync(fd, chunk);
        } catch (err) {
          fail(err as Error);
          return;
        }
        written += chunk.length;
        bar.update(written);
      });
      res.on('end', resolve);
      res.on('error', fail);
      res.on('close', () => {
        if (!res.complete)
          reject(Object.assign(new Error('connection closed mid-body (aborted)'), { code: 'ECONNRESET' }));
      });
    });
  } finally {
    closeSync(fd);
    bar.stop();
  }
  if (res.complete === false) return false;
  if (Number.isFinite(length) && written - offset < length) return false;
  return total === undefined || written >= total;
}
