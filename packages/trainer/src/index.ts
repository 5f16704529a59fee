export const PACKAGE_NAME = '@atelier/trainer';
