export const PACKAGE_NAME = '@atelier/hub';
