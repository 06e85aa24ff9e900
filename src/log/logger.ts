import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import winston from 'winston';

/**
 * winston with two sinks: the console (quiet unless asked, so CLI output stays clean) and
 * logs/provisioning.log (JSON lines). Every record passes through `redact`, so a password can
 * never reach a sink even when a caller logs a whole object or a connection string.
 */
const SECRET_KEY = /pass(word)?|secret|token|key$|credential/i;
const URL_PASSWORD = /(postgres(?:ql)?:\/\/[^:/@\s]+:)[^@\s]+@/gi;
/** `POSTGRES_PASSWORD=x`, libpq's `password=x`, `DBAAS_MASTER_KEY=x`: the value runs to a blank or quote. */
const ASSIGNED_SECRET = /\b([A-Za-z_]*(?:passw(?:or)?d|secret|token|_key)[A-Za-z_]*\s*=\s*)[^\s"']+/gi;
const MAX_DEPTH = 8;

export function redactText(text: string): string {
  return text.replace(URL_PASSWORD, '$1****@').replace(ASSIGNED_SECRET, '$1****');
}

export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  // Deeper than anything dbaas logs: drop it rather than let an unchecked secret through.
  if (depth > MAX_DEPTH) return '[too deep to log]';
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null ? '****' : redact(v, depth + 1);
  }
  return out;
}

const redactFormat = winston.format((info) => {
  for (const key of Object.keys(info)) {
    const v = info[key];
    info[key] = SECRET_KEY.test(key) && v !== undefined ? '****' : redact(v);
  }
  return info;
});

export type Logger = winston.Logger;

export interface LoggerOptions {
  file?: string;
  level?: string;
  /** Console level; `silent` keeps the console free for CLI output. */
  consoleLevel?: string | 'silent';
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const transports: winston.transport[] = [];
  if (options.consoleLevel !== 'silent') {
    transports.push(
      new winston.transports.Console({
        level: options.consoleLevel ?? options.level ?? 'info',
        stderrLevels: ['error', 'warn', 'info', 'debug'],
        format: winston.format.combine(
          winston.format.timestamp(),
          winston.format.printf(({ timestamp, level, message, ...meta }) => {
            const rest = Object.keys(meta).length ? ` ${JSON.stringify(meta)}` : '';
            return `${String(timestamp)} ${level} ${String(message)}${rest}`;
          }),
        ),
      }),
    );
  }
  if (options.file) {
    mkdirSync(dirname(options.file), { recursive: true });
    transports.push(
      new winston.transports.File({
        filename: options.file,
        level: options.level ?? 'info',
        maxsize: 10 * 1024 * 1024,
        maxFiles: 3,
        tailable: true,
        format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
      }),
    );
  }
  if (transports.length === 0) transports.push(new winston.transports.Console({ silent: true }));
  return winston.createLogger({
    level: options.level ?? 'info',
    format: redactFormat(),
    transports,
  });
}
