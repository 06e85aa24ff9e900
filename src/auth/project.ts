import { z } from 'zod';

/** Every instance belongs to a project; instances made before projects existed are in `default`. */
export const DEFAULT_PROJECT = 'default';

export const ProjectNameSchema = z
  .string()
  .min(1, 'must be 1 to 40 characters')
  .max(40, 'must be 1 to 40 characters')
  .regex(/^[a-z]([a-z0-9-]*[a-z0-9])?$/, 'must be a lowercase DNS label: a-z, 0-9 and "-", starting with a letter, not ending with "-"')
  .meta({ description: 'The project the instance belongs to (default "default")', example: 'payments' });
