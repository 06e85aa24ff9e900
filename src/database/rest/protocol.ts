import { DbaasError } from '../../errors.js';

/**
 * The HTTP side of PostgREST's protocol that does not touch SQL: which body the client accepts,
 * the Content-Range of an answer, and PostgREST's error body and status for every failure.
 */

export type Media = { kind: 'json' | 'object' | 'csv'; stripNulls: boolean };

/** The first media type of `Accept` that PostgREST can answer with, or 406 PGRST107. */
export function negotiate(accept: string | undefined): Media {
  if (!accept || accept.trim() === '') return { kind: 'json', stripNulls: false };
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const stripNulls = params.includes('nulls=stripped');
    if (type === 'application/json' || type === 'application/vnd.pgrst.array+json' || type === '*/*' || type === 'application/*') {
      return { kind: 'json', stripNulls };
    }
    if (type === 'application/vnd.pgrst.object+json') return { kind: 'object', stripNulls };
    if (type === 'text/csv' || type === 'text/*') return { kind: 'csv', stripNulls: false };
  }
  throw new DbaasError('MALFORMED_REQUEST', `None of these media types are available: ${accept}`, { pgrst: 'PGRST107', status: 406 });
}

/** `0-9/100`, `0-9/*`, `*\/0`. */
export function contentRange(offset: number, rows: number, total: number | null): string {
  const range = rows > 0 ? `${offset}-${offset + rows - 1}` : '*';
  return `${range}/${total ?? '*'}`;
}

/** PostgREST's error body: code, message, details, hint. */
export interface PgrstError {
  code: string;
  message: string;
  details: unknown;
  hint: unknown;
}

/** SQLSTATE to HTTP status, as PostgREST maps them. */
export function statusOfSqlState(code: string): number {
  if (code === '23503' || code === '23505') return 409;
  if (code === '25006') return 405;
  if (code === '42883' || code === '42P01') return 404;
  if (code === '42501') return 403;
  if (code === 'P0001') return 400;
  if (code === '57014') return 500;
  const cls = code.slice(0, 2);
  if (cls === '08' || cls === '53') return 503;
  if (cls === '0L' || cls === '0P' || cls === '28') return 403;
  if (cls === '54') return 413;
  if (['09', '25', '2D', '38', '39', '3B', '40', '55', '57', '58', 'F0', 'HV', 'P0', 'XX'].includes(cls)) return 500;
  return 400;
}

/** dbaas's own errors that PostgREST has a code of its own for. */
const DBAAS_TO_PGRST: Partial<Record<string, { code: string; status: number }>> = {
  UNAUTHORIZED: { code: 'PGRST301', status: 401 },
  FORBIDDEN: { code: '42501', status: 403 },
  MALFORMED_REQUEST: { code: 'PGRST100', status: 400 },
  VALIDATION_FAILED: { code: 'PGRST100', status: 400 },
  TABLE_NOT_FOUND: { code: 'PGRST205', status: 404 },
  COLUMN_NOT_FOUND: { code: '42703', status: 400 },
  STATEMENT_TIMEOUT: { code: '57014', status: 500 },
};

/**
 * Any error of a request on this endpoint as PostgREST would have answered it: a server error
 * keeps its SQLSTATE, PostgREST's own failures their PGRST code; what only dbaas can refuse
 * (an instance not found or not running, a rate limit) keeps dbaas's code and `status`.
 */
export function toPgrstError(error: DbaasError, status: number): { status: number; body: PgrstError } {
  const d = (error.details ?? {}) as Record<string, unknown>;
  if (typeof d.sqlstate === 'string') {
    const code = d.sqlstate;
    const message = code === '57014' ? 'canceling statement due to statement timeout' : error.message;
    return { status: statusOfSqlState(code), body: { code, message, details: d.detail ?? null, hint: d.hint ?? null } };
  }
  if (typeof d.pgrst === 'string') {
    return { status: typeof d.status === 'number' ? d.status : 400, body: { code: d.pgrst, message: error.message, details: d.detail ?? null, hint: d.hint ?? null } };
  }
  const mapped = DBAAS_TO_PGRST[error.code];
  const hint = typeof d.permission === 'string' ? `the token's role lacks the permission ${d.permission}` : null;
  const details = typeof d.reason === 'string' ? d.reason : null;
  return { status: mapped?.status ?? status, body: { code: mapped?.code ?? error.code, message: error.message, details, hint } };
}

/** The endpoint's paths: errors on them take PostgREST's shape. */
export const REST_PATH = /^\/database\/[^/]+\/rest\/v1(\/|$)/;
