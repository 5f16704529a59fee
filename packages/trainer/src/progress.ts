import cliProgress from 'cli-progress';

/** Progress bar on stderr (step, epoch, loss, tokens/s, ETA) with a log channel that does not break it. */
export interface Progress {
  update(step: number, fields: { epoch: number; loss: number; tps: number }): void;
  log(line: string): void;
  stop(): void;
}

/** A cli-progress bar on stderr; when `enabled` is false, log lines go to `fallbackLog` and nothing is drawn. */
export function createProgress(
  total: number,
  start: number,
  enabled: boolean,
  fallbackLog: (line: string) => void,
): Progress {
  if (!enabled) {
    return { update() {}, log: fallbackLog, stop() {} };
  }
  const multi = new cliProgress.MultiBar(
    {
      stream: process.stderr,
      format:
        'train |{bar}| step {value}/{total} | epoch {epoch} | loss {loss} | {tps} tok/s | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  const bar = multi.create(total, start, { epoch: 0, loss: '—', tps: '—' });
  return {
    update(step, f) {
      bar.update(step, { epoch: f.epoch, loss: f.loss.toFixed(4), tps: Math.round(f.tps) });
    },
    log(line) {
      multi.log(`${line}\n`);
    },
    stop() {
      multi.stop();
    },
  };
}
