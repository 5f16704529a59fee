import '@tensorflow/tfjs-backend-cpu';
import { tf } from './tf.js';

export type BackendKind = 'auto' | 'webgpu' | 'cpu';

export interface BackendInfo {
  /** tfjs backend name that is now active. */
  name: string;
  kind: Exclude<BackendKind, 'auto'>;
  adapter?: { vendor: string; architecture: string; description: string; isFallbackAdapter: boolean };
}

/** STUB (foundation): always the tfjs cpu backend. @atelier/tensor's owner replaces this. */
export async function initBackend(_kind: BackendKind = 'auto'): Promise<BackendInfo> {
  await tf.setBackend('cpu');
  await tf.ready();
  return { name: tf.getBackend(), kind: 'cpu' };
}
