import { appendFileSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from './checkpoint.js';

/** One line of metrics.jsonl. */
export type MetricRecord =
  | {
      type: 'start';
      time: string;
      resumedFrom: string | null;
      step: number;
      totalSteps: number;
      params: number;
      trainableParams: number;
      tokensPerStep: number;
    }
  | {
      type: 'train';
      step: number;
      epoch: number;
      loss: number;
      lr: number;
      gradNorm: number;
      tokens: number;
      tokensPerSec: number;
      elapsedMs: number;
    }
  | {
      type: 'eval';
      step: number;
      epoch: number;
      valLoss: number;
      perplexity: number;
      tokens: number;
      samples: { prompt: string; text: string }[];
      best: boolean;
    }
  | { type: 'skip'; step: number; epoch: number; reason: string; consecutive: number }
  | { type: 'checkpoint'; step: number; path: string; best: boolean }
  | {
      type: 'end';
      step: number;
      status: TrainStatus;
      reason: string;
      bestValLoss: number | null;
      bestStep: number | null;
      elapsedMs: number;
      tokensSeen: number;
    };

export type TrainStatus = 'completed' | 'early-stopped' | 'interrupted' | 'failed';

/** Append-only JSONL writer (one synchronous append per record: a killed process keeps every line it wrote). */
export class MetricsLog {
  constructor(readonly path: string) {}

  write(record: MetricRecord): void {
    appendFileSync(this.path, `${JSON.stringify(record)}\n`);
  }

  /** Every record in the file (a torn last line from a kill is ignored). */
  read(): MetricRecord[] {
    return readMetrics(this.path);
  }

  /** On resume: drop records written after `step` (work lost since that checkpoint), atomically. */
  async truncateAfter(step: number): Promise<void> {
    const kept = this.read().filter((r) => r.step <= step && r.type !== 'end');
    await writeFileAtomic(this.path, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
  }
}

/** Parse a metrics.jsonl file; a missing file is empty. */
export function readMetrics(path: string): MetricRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const out: MetricRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // a torn final line after a kill
    }
  }
  return out;
}
