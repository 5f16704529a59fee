export const PACKAGE_NAME = '@atelier/datasets';
