import type { Options } from 'tsup';
export declare function atelierTsup(overrides?: Options): Options;
