export const PACKAGE_NAME = '@atelier/lora';
