/** Optimizers. */
export { AdamW, type AdamWConfig, type AdamWSlotState, type AdamWState } from './adamw.js';
