/** Download progress on stderr (cli-progress: bar, bytes, rate, ETA). */
import cliProgress from 'cli-progress';

export interface Progress {
  update(bytes: number): void;
  stop(): void;
}

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** A progress bar when `enabled` (default: stderr is a TTY), otherwise a no-op. */
export function createProgress(
  label: string,
  total: number | undefined,
  start: number,
  enabled?: boolean,
): Progress {
  if (!(enabled ?? process.stderr.isTTY === true)) return { update() {}, stop() {} };
  const t0 = Date.now();
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: (options, params, payload) => {
        const done = params.value;
        const secs = Math.max((Date.now() - t0) / 1000, 1e-3);
        const rate = (done - start) / secs;
        const eta = total && rate > 0 ? Math.round((total - done) / rate) : undefined;
        const bar = cliProgress.Format.BarFormat(total ? done / total : 0, options);
        return `${payload.label} ${bar} ${fmtBytes(done)}${total ? ` / ${fmtBytes(total)}` : ''} ${fmtBytes(rate)}/s${eta === undefined ? '' : ` ETA ${eta}s`}`;
      },
      hideCursor: false,
      // Explicitly enabled on a non-TTY (a log file, CI): print a line every few seconds instead of redrawing.
      noTTYOutput: true,
      notTTYSchedule: 2000,
      clearOnComplete: false,
      barsize: 24,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total ?? 0, start, { label });
  return {
    update: (bytes) => bar.update(bytes),
    stop: () => bar.stop(),
  };
}
