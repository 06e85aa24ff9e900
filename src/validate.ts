import type { z } from 'zod';
import { validationError, type FieldIssue } from './errors.js';

/** Turns zod issues into field-named issues: `memory: must be at least 128m`. */
export function toFieldIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => ({
    field: issue.path.map(String).join('.'),
    message: issue.message,
  }));
}

/** Parses untrusted input with a zod schema, throwing VALIDATION_FAILED that names each field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw validationError(toFieldIssues(result.error));
  return result.data;
}
