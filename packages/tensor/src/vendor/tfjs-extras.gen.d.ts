// Side-effect module: registers tfjs-core gradients and chained ops (see scripts/vendor-tfjs.mjs).
export {};
