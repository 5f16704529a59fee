import type { UserConfig } from 'vitest/config';
export declare function atelierVitest(overrides?: UserConfig): UserConfig;
