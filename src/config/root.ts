import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root: `src/config` and `dist/config` both sit two levels below it. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
