/** The version of the registry file's format (config/instances.json). */
export const REGISTRY_VERSION = 1;
