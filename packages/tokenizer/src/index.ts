export const PACKAGE_NAME = '@atelier/tokenizer';
