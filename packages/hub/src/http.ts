/**
 * Minimal HTTP(S) client on node:http/node:https: one request, no automatic redirects, streaming bodies.
 * (Node's `fetch` would hide the first response's headers behind redirects and cannot resume into a file
 * as directly; huggingface_hub also handles redirects itself.)
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';

export interface RequestOptions {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** Send one request; resolves with the response once its headers arrive (body not yet read). */
export function request(url: string, options: RequestOptions = {}): Promise<IncomingMessage> {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : undefined;
  if (lib === undefined) return Promise.reject(new Error(`unsupported URL protocol ${u.protocol} in ${url}`));
  return new Promise((resolve, reject) => {
    const req = lib.request(u, { method: options.method ?? 'GET', headers: options.headers }, resolve);
    req.setTimeout(options.timeoutMs ?? 30_000, () =>
      req.destroy(new Error(`timed out after ${options.timeoutMs ?? 30_000} ms`)),
    );
    req.on('error', reject);
    req.end();
  });
}

/** Read a (small) response body as text, e.g. an error message. */
export async function readBody(res: IncomingMessage, limit = 4096): Promise<string> {
  let text = '';
  for await (const chunk of res) {
    if (text.length < limit) text += chunk.toString();
  }
  return text.slice(0, limit);
}

/** Errors worth retrying: connection resets, refused/timeouts, truncated bodies. */
export function isTransient(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return (
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ETIMEDOUT' ||
    code === 'ECONNABORTED' ||
    code === 'EAI_AGAIN' ||
    code === 'UND_ERR_SOCKET' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    /aborted|socket hang up|timed out|premature/i.test(String((err as Error)?.message))
  );
}

/** Connection-level failure (no server at all): the cue to fall back to the cache. */
export function isNetworkDown(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return (
    code === 'ECONNREFUSED' ||
    code === 'ENOTFOUND' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENETUNREACH' ||
    isTransient(err)
  );
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
