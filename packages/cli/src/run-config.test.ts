import { describe, expect, it } from 'vitest';
import { envLayer } from './commands/train.js';
import { merge, parseRunConfig } from './run-config.js';

describe('train configuration layers', () => {
  it('environment variables map onto the config fields', () => {
    const env = envLayer({
      TRAINING_DATA_SOURCE: 'notes.txt',
      MODEL_TYPE: 'gpt2',
      USE_LORA: 'true',
      TRAINING_STEPS: '300',
      LEARNING_RATE: '2e-4',
      ENABLE_CHECKPOINTS: 'false',
    });
    const c = parseRunConfig(merge({ out: 'runs/x' }, env), 'env');
    expect(c.data).toBe('notes.txt');
    expect(c.model).toBe('gpt2');
    expect(c.lora).toEqual({ r: 8, alpha: 16, dropout: 0.05, targetModules: ['c_attn'] });
    expect(c.training.maxSteps).toBe(300);
    expect(c.training.lr).toBe(2e-4);
    expect(c.training.checkpoints.enabled).toBe(false);
    expect(() => envLayer({ USE_LORA: 'maybe' })).toThrow(/USE_LORA="maybe" is not a boolean/);
  });

  it('later layers win, nested objects merge, and the bad field is named', () => {
    const file = {
      data: 'a.txt',
      out: 'o',
      training: { lr: 0.1, maxSteps: 5, schedule: { warmupSteps: 2 } },
    };
    const flags = { training: { lr: 0.2, schedule: { decay: 'linear' } } };
    const c = parseRunConfig(merge(file, flags), 'cfg.json');
    expect(c.training.lr).toBe(0.2);
    expect(c.training.schedule).toMatchObject({ warmupSteps: 2, decay: 'linear' });
    expect(() => parseRunConfig(merge(file, { batchSize: 0 }), 'cfg.json')).toThrow(
      /^cfg\.json: batchSize: /,
    );
    expect(() => parseRunConfig(merge(file, { lora: { r: 8, rank: 4 } }), 'cfg.json')).toThrow(/lora: /);
  });
});
