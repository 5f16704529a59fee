/**
 * Native CPU backend for @atelier/tensor: a Node addon (C++17, N-API) with a packed AVX-512/AVX2 SGEMM and
 * fused llm.c-style kernels, registered into tfjs-core as the `atelier-native` backend.
 */
export { type AddonLoad, loadNativeAddon, type NativeAddon } from './addon.js';
export {
  NATIVE_BACKEND_NAME,
  NativeBackend,
  type NativeInfo,
  type NativeRegistration,
  nativeAddon,
  registerNativeBackend,
} from './backend.js';
