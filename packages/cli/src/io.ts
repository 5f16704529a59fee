/** Where a command writes, and the environment it reads (injectable so tests run `main` in-process). */
export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  /** Whether stderr is a terminal (progress bars only then). */
  isTTY: boolean;
}

export const processIo = (): Io => ({
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  env: process.env,
  isTTY: Boolean(process.stderr.isTTY),
});

/** Exit codes scripts can rely on. */
export const EXIT = {
  /** Success. */
  ok: 0,
  /** Runtime error: bad file contents, a failed download, a diverged run (message on stderr). */
  error: 1,
  /** Usage error: unknown command or flag, bad flag value, invalid config field. */
  usage: 2,
  /** Interrupted by Ctrl-C (SIGINT); a training run saved a checkpoint first. */
  interrupted: 130,
} as const;

/** A usage error (exit code 2): bad flags, missing arguments, an invalid config field. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The run was interrupted (exit code 130). */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
}
