export const PACKAGE_NAME = '@atelier/retrieval';
