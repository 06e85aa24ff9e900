/**
 * Sizes as Docker and docker-compose write them: `512m`, `1g`, `1.5g`, `256MiB`, `1048576`.
 * Units are binary (k = 1024), as in `docker run --memory`.
 */
const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

/** The smallest memory limit an instance may have (PostgreSQL needs some room beside shared_buffers). */
export const MIN_MEMORY = 128 * 1024 * 1024;

const SIZE_PATTERN = /^(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|b)?$/i;

/** Parses a size into bytes, or returns undefined when the text is not a size. */
export function parseSize(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isSafeInteger(text) && text >= 0 ? text : undefined;
  const match = SIZE_PATTERN.exec(text.trim());
  if (!match) return undefined;
  const value = Number(match[1]);
  const unit = UNITS[(match[2] ?? '').toLowerCase()];
  if (unit === undefined) return undefined;
  if (unit === 1 && !Number.isInteger(value)) return undefined; // no fractions of a byte
  const bytes = Math.round(value * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Formats bytes the way users type them: 512m, 1g, 1.5g; exact when possible. */
export function formatSize(bytes: number): string {
  const units = [['t', 1024 ** 4], ['g', 1024 ** 3], ['m', 1024 ** 2], ['k', 1024]] as const;
  // Exact in the largest unit that divides evenly (1536m), while that stays short to read...
  for (const [suffix, unit] of units) {
    if (bytes >= unit && bytes % unit === 0 && bytes / unit < 10_000) return `${bytes / unit}${suffix}`;
  }
  // ...else rounded to a tenth of the largest unit that fits (7.1m).
  for (const [suffix, unit] of units) {
    if (bytes >= unit) return `${(bytes / unit).toFixed(1)}${suffix}`;
  }
  return `${bytes}b`;
}

/** PostgreSQL's own unit syntax for memory settings (kB, MB, GB): `128MB`. */
export function toPostgresMemory(bytes: number): string {
  const kb = Math.max(64, Math.floor(bytes / 1024));
  if (kb % (1024 * 1024) === 0) return `${kb / (1024 * 1024)}GB`;
  if (kb % 1024 === 0) return `${kb / 1024}MB`;
  return `${kb}kB`;
}
