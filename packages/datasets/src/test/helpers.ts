import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** /work/shared/data: the shared reference data (never copied into the repo). */
export const SHARED = fileURLToPath(new URL('../../../../../shared/data/', import.meta.url));
export const HAS_SHARED = existsSync(join(SHARED, 'SOURCES.md'));
export const SKIP_REASON = `shared reference data not found at ${SHARED}`;
if (!HAS_SHARED) console.warn(`skipping tests that need ${SKIP_REASON}`);

/** Path of a file in the shared data directory. */
export function shared(name: string): string {
  return join(SHARED, name);
}

/** A fresh temporary directory, removed by the returned cleanup. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'atelier-datasets-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A loopback HTTP server on 127.0.0.1 with an OS-chosen port. */
export async function serve(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
