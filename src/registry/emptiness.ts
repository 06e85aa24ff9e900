import { readFileSync } from 'node:fs';
import { REGISTRY_VERSION } from './version.js';

/**
 * Whether a registry file holds no instance: it does not exist, or it is exactly the empty
 * document of this version. Anything else (instances, another version, a damaged file) is for
 * the Registry to read and validate; this only lets a command skip loading it when there is
 * certainly nothing in it.
 */
export function registryIsEmpty(file: string): boolean {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
  try {
    const doc = JSON.parse(text) as unknown;
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return false;
    const keys = Object.keys(doc).sort();
    const { version, instances } = doc as { version?: unknown; instances?: unknown };
    return keys.join(',') === 'instances,version' && version === REGISTRY_VERSION && Array.isArray(instances) && instances.length === 0;
  } catch {
    return false;
  }
}
