import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { MetricRecord } from './metrics.js';
import { renderReport } from './report.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);

function records(): MetricRecord[] {
  const out: MetricRecord[] = [
    {
      type: 'start',
      time: '2026-11-22T00:00:00Z',
      resumedFrom: null,
      step: 0,
      totalSteps: 40,
      params: 1000,
      trainableParams: 1000,
      tokensPerStep: 128,
    },
  ];
  for (let s = 1; s <= 40; s++) {
    out.push({
      type: 'train',
      step: s,
      epoch: 0,
      loss: 5 - s * 0.05,
      lr: 1e-3 * Math.min(1, s / 4),
      gradNorm: 1 / s,
      tokens: 128,
      tokensPerSec: 1000 + s,
      elapsedMs: s * 10,
    });
    if (s % 20 === 0) {
      out.push({
        type: 'eval',
        step: s,
        epoch: 0,
        valLoss: 4.5 - s * 0.02,
        perplexity: Math.exp(4.5 - s * 0.02),
        tokens: 500,
        samples: [
          {
            prompt: 'Q: What is Impressionism?\nA:',
            text: ' a <b>style</b> </script><script>alert(1)</script>',
          },
        ],
        best: true,
      });
    }
  }
  out.push({
    type: 'end',
    step: 40,
    status: 'completed',
    reason: '',
    bestValLoss: 3.7,
    bestStep: 40,
    elapsedMs: 400,
    tokensSeen: 5120,
  });
  return out;
}

describe('renderReport', () => {
  it('is self-contained and escapes sample text', () => {
    const html = renderReport(records(), { title: 'Run <1>' });
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i); // nothing loaded from anywhere
    expect(html).toContain('Run &lt;1&gt;');
    expect(html).toContain('&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html.match(/<script/g)).toHaveLength(3); // error hook, data, chart script: none injected
    expect(html).toContain('<th>final val loss</th><td>3.7</td>');
  });

  it.skipIf(!hasChromium)('renders its four charts in headless Chromium without script errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'atelier-report-'));
    try {
      const file = join(dir, 'report.html');
      await writeFile(file, renderReport(records()));
      const { stdout, stderr } = await promisify(execFile)(
        CHROMIUM,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--no-first-run',
          '--enable-logging=stderr',
          `--user-data-dir=${join(dir, 'profile')}`,
          '--dump-dom',
          `file://${file}`,
        ],
        { timeout: 60_000, maxBuffer: 16 << 20 },
      );
      expect(stdout).toContain('data-charts-rendered="4"');
      expect(stdout).not.toMatch(/<body[^>]*data-js-error/);
      expect(stderr).not.toMatch(/Uncaught/);
      // one path per series: train loss, val loss, lr, tokens/s, grad norm; 40 points in the train curve
      const paths = [...stdout.matchAll(/<path d="([^"]+)"[^>]*data-series="([^"]+)"/g)];
      expect(paths.map((p) => p[2]).sort()).toEqual(['grad norm', 'lr', 'tokens/s', 'train', 'val']);
      const trainPath = paths.find((p) => p[2] === 'train')?.[1] ?? '';
      expect(trainPath.split(/[ML]/).filter(Boolean)).toHaveLength(40);
      expect(stdout.match(/<circle/g)).toHaveLength(2); // two validation points
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
