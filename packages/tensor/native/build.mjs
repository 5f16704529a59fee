// Builds the native CPU backend (node-gyp) at install time. Never fails the install: if the addon cannot be
// built, @atelier/tensor falls back to the WASM backend and says why. (Placeholder until the addon lands.)
console.log('@atelier/tensor: native CPU backend not built yet (placeholder)');
