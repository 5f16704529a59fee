import { UsageError } from './io.js';

/** Parse a number flag, naming the flag on error. */
export function num(flag: string, opts: { int?: boolean; min?: number; max?: number } = {}) {
  return (value: string): number => {
    const v = Number(value);
    if (value.trim() === '' || !Number.isFinite(v))
      throw new UsageError(`${flag}: "${value}" is not a number`);
    if (opts.int && !Number.isInteger(v)) throw new UsageError(`${flag}: "${value}" is not an integer`);
    if (opts.min !== undefined && v < opts.min) throw new UsageError(`${flag}: ${v} is below ${opts.min}`);
    if (opts.max !== undefined && v > opts.max) throw new UsageError(`${flag}: ${v} is above ${opts.max}`);
    return v;
  };
}

/** Parse a boolean environment variable (1/0, true/false, yes/no, on/off), naming it on error. */
export function envBool(name: string, value: string | undefined): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new UsageError(`environment variable ${name}="${value}" is not a boolean (use true or false)`);
}

/** Parse a numeric environment variable, naming it on error. */
export function envNum(name: string, value: string | undefined, int = false): number | undefined {
  if (value === undefined || value === '') return undefined;
  const v = Number(value);
  if (!Number.isFinite(v) || (int && !Number.isInteger(v))) {
    throw new UsageError(`environment variable ${name}="${value}" is not ${int ? 'an integer' : 'a number'}`);
  }
  return v;
}

/** Collect repeated flag values into an array (commander helper). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
