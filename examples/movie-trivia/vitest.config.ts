import { atelierVitest } from '@atelier/config/vitest';
import { defineConfig } from 'vitest/config';

export default defineConfig(atelierVitest());
