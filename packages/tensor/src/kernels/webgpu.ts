/** WGSL kernels for tfjs-backend-webgpu (filled in below). */
export function registerWebGPUKernels(): void {}
