import { atelierTsup } from '@atelier/config/tsup';
import { defineConfig } from 'tsup';

export default defineConfig(atelierTsup({ entry: ['src/index.ts', 'src/demo.ts'] }));
