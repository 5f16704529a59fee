/**
 * A progress line on stderr for long work: `label done/total (pct) rate/s ETA`. On a TTY the line is
 * rewritten in place (at most ~5 times a second); otherwise a line is printed every 10 seconds and at the end.
 * Returns an onProgress(done, total) callback.
 */
export function stderrProgress(label: string, unit = 'items'): (done: number, total: number) => void {
  const start = performance.now();
  const tty = process.stderr.isTTY === true;
  let last = 0;
  return (done, total) => {
    const now = performance.now();
    const finished = done >= total;
    if (!finished && now - last < (tty ? 200 : 10_000)) return;
    last = now;
    const sec = (now - start) / 1000;
    const rate = done / Math.max(sec, 1e-9);
    const eta = rate > 0 ? (total - done) / rate : Number.POSITIVE_INFINITY;
    const line =
      `${label} ${done}/${total} (${((100 * done) / Math.max(total, 1)).toFixed(0)}%) ` +
      `${rate.toFixed(1)} ${unit}/s ${finished ? `in ${sec.toFixed(1)} s` : `ETA ${Number.isFinite(eta) ? eta.toFixed(0) : '?'} s`}`;
    process.stderr.write(tty ? `\r${line}${finished ? '\n' : ''}` : `${line}\n`);
  };
}
