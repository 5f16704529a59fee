export const PACKAGE_NAME = '@atelier/gpt2';
