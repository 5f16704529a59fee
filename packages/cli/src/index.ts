/**
 * @atelier/cli — the `atelier` command line. `main(argv, io)` runs it in-process and returns the exit code.
 */
export { EXIT, InterruptedError, type Io, processIo, UsageError } from './io.js';
export { main } from './main.js';
export { type RunConfig, RunConfigSchema } from './run-config.js';
