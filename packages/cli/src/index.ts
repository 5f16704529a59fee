export const PACKAGE_NAME = '@atelier/cli';
