import { DbaasError } from '../errors.js';

const RELATIVE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration like `15m`, `2h`, `30s` in milliseconds, or undefined when it is not one. */
export function parseDurationMs(text: string): number | undefined {
  const m = RELATIVE.exec(text.trim());
  return m ? Number(m[1]) * (UNIT_MS[m[2] as string] as number) : undefined;
}

/**
 * A point in time as users give it: an ISO 8601 timestamp, epoch seconds or milliseconds, or a duration
 * meaning "that long ago" (`15m`). Throws VALIDATION_FAILED naming the field otherwise.
 */
export function parseTimePoint(text: string, field: string, now = Date.now()): number {
  const trimmed = text.trim();
  const ago = parseDurationMs(trimmed);
  if (ago !== undefined) return now - ago;
  // Epoch seconds have 10 digits (until 2286), milliseconds 13: take each for what it is.
  if (/^\d{9,11}$/.test(trimmed)) return Number(trimmed) * 1000;
  if (/^\d{12,}$/.test(trimmed)) return Number(trimmed);
  if (/^\d{4}-\d{2}-\d{2}/.test(trimmed)) {
    const ms = Date.parse(trimmed);
    if (!Number.isNaN(ms)) return ms;
  }
  throw new DbaasError(
    'VALIDATION_FAILED',
    `${field}: "${text}" is not a time; use an ISO timestamp, epoch seconds or milliseconds, or a duration like 15m`,
    { issues: [{ field, message: 'not a time' }] },
  );
}

/** since/until as milliseconds, refusing a reversed range. */
export function parseRange(since: string | undefined, until: string | undefined, now = Date.now()) {
  const sinceMs = since !== undefined ? parseTimePoint(since, 'since', now) : undefined;
  const untilMs = until !== undefined ? parseTimePoint(until, 'until', now) : undefined;
  if (sinceMs !== undefined && untilMs !== undefined && sinceMs > untilMs) {
    throw new DbaasError('VALIDATION_FAILED', 'since: the range is reversed (since is after until)', {
      issues: [{ field: 'since', message: 'after until' }],
    });
  }
  return { sinceMs, untilMs };
}
