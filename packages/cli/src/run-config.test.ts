import { describe, expect, it } from 'vitest';
import { envLayer, flagLayer } from './commands/train.js';
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

describe('train flags', () => {
  it('--checkpoint-every does not re-enable checkpoints that ENABLE_CHECKPOINTS=false turned off', () => {
    const flags = flagLayer({
      checkpointEvery: 10,
      checkpoints: true,
      keepLast: 3,
      patience: 2,
      gradClip: 0.5,
    });
    const c = parseRunConfig(
      merge(
        { data: 'a', out: 'o', training: { maxSteps: 5 } },
        envLayer({ ENABLE_CHECKPOINTS: 'false' }),
        flags,
      ),
      'x',
    );
    expect(c.training.checkpoints).toMatchObject({ enabled: false, every: 10, keepLast: 3 });
    expect(c.training.earlyStopping).toEqual({ patience: 2, minDelta: 0 });
    expect(c.training.gradClip).toBe(0.5);
    const off = parseRunConfig(
      merge({ data: 'a', out: 'o', training: { maxSteps: 5 } }, flagLayer({ checkpoints: false })),
      'x',
    );
    expect(off.training.checkpoints.enabled).toBe(false);
  });
});
