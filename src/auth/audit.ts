import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { lockPath } from '../fileLock.js';
import type { ProgressFn } from '../instances/progress.js';
import type { Principal } from './principal.js';

/**
 * The audit log: `logs/audit.ndjson`, one JSON line per request that changes something, per read
 * of a secret, and per refused attempt at either; the API and the CLI on the host append to the
 * same file. Lines are appended with O_APPEND, whole lines per write, so processes never
 * interleave within a line. Lines that come in one turn of the event loop, or while a write is
 * under way, go out together in the next write (a busy server writes a batch where it wrote a
 * line each). Nothing secret goes in: no token, no password, no request body.
 */

export const AuditEntrySchema = z
  .object({
    ts: z.string(),
    requestId: z.string(),
    actor: z.object({
      kind: z.enum(['token', 'local']),
      name: z.string().meta({ description: 'The token\'s name, or "local" for the CLI on the host' }),
      tokenId: z.string().optional(),
      role: z.string(),
      project: z.string().nullable().meta({ description: "The token's project; null for an admin" }),
    }).nullable().meta({ description: 'null when no valid token came with the request' }),
    client: z.string().meta({ description: 'The client address, or "cli"' }),
    action: z.string().meta({ description: 'The operation (createInstance, ...) or the CLI command (cli:create)' }),
    target: z.string().nullable().meta({ description: 'The instance, backup, token or operation acted on' }),
    project: z.string().nullable().meta({ description: "The target's project when it has one" }),
    outcome: z.enum(['success', 'failure', 'denied']),
    status: z.number().int().meta({ description: 'The HTTP status, or the CLI exit code' }),
    error: z.string().nullable().meta({ description: 'The error code of a failure' }),
    step: z
      .string()
      .optional()
      .meta({ description: "A step of a long operation (an upgrade's stop, swap, start...), logged as it ends; the operation's end is the step \"end\"" }),
  })
  .meta({ id: 'AuditEntry' });
export type AuditEntry = z.output<typeof AuditEntrySchema>;
export const AuditListSchema = z.object({ entries: z.array(AuditEntrySchema) }).meta({ id: 'AuditList' });

export function actorOf(principal: Principal | undefined): AuditEntry['actor'] {
  if (!principal || principal.kind === 'anonymous') return null;
  if (principal.kind === 'local') return { kind: 'local', name: 'local', role: 'admin', project: null };
  return { kind: 'token', name: principal.name, tokenId: principal.tokenId, role: principal.role, project: principal.project };
}

/** What the lines of one long operation's steps share: the request or command that started it. */
export type StepAuditBase = Pick<AuditEntry, 'requestId' | 'actor' | 'client' | 'action' | 'target' | 'project'>;

/**
 * The steps of a long operation (an upgrade) in the audit trail: a line as each step ends, and one
 * at the operation's end with its outcome and error code (an API request that started it answered
 * 202 long before). `progress` wraps the operation's own progress callback.
 */
export function auditSteps(audit: AuditLog, base: StepAuditBase, warn: (message: string) => void) {
  const write = (step: string, error: string | null) =>
    audit
      .append({ ...base, ts: new Date().toISOString(), step, outcome: error ? 'failure' : 'success', status: error ? 1 : 0, error })
      .catch((err: Error) => warn(`cannot append to the audit log: ${err.message}`));
  return {
    progress(inner?: ProgressFn): ProgressFn {
      return (event) => {
        inner?.(event);
        if (event.phase === 'done') void write(event.step, null);
      };
    },
    end(error: { code?: string } | null): Promise<void> {
      return write('end', error ? (error.code ?? 'INTERNAL') : null);
    },
  };
}

export interface AuditQuery {
  since?: Date;
  project?: string;
  limit?: number;
}

/** When the audit log is rotated (its size) and how many rotated files (`audit.ndjson.1` the newest) are kept. */
export interface AuditRotation {
  maxFileBytes: number;
  keep: number;
}

/** The rotation the settings ask for (DBAAS_AUDIT_MAX_FILE, DBAAS_AUDIT_KEEP). */
export function rotationOf(settings: { auditMaxFileBytes: number; auditKeep: number }): AuditRotation {
  return { maxFileBytes: settings.auditMaxFileBytes, keep: settings.auditKeep };
}

export class AuditLog {
  /** The file opened once for appending (O_APPEND): a write per line, no open, mkdir or close per request. */
  private handle: Promise<FileHandle> | null = null;
  /** When the path was last compared with the open file (a rotation renames or removes it). */
  private checkedAt = 0;

  /** Lines waiting for the next write, and that write (null until a line waits). */
  private queued: string[] = [];
  private nextWrite: Promise<void> | null = null;
  /** The write under way; the next one starts after it. */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    readonly file: string,
    private readonly rotation: AuditRotation,
  ) {}

  /** Appends a line; resolves once it is written (with the lines that came while it waited). */
  append(entry: AuditEntry): Promise<void> {
    this.queued.push(JSON.stringify(entry) + '\n');
    if (this.nextWrite) return this.nextWrite;
    // The write waits for the one under way and for the end of this turn of the event loop, so
    // that the lines of every request that finished in the turn go out in one write.
    const write = Promise.all([this.writing, new Promise((resolve) => setImmediate(resolve))]).then(() => {
      const lines = this.queued.join('');
      this.queued = [];
      this.nextWrite = null;
      return this.write(lines);
    });
    this.nextWrite = write;
    this.writing = write.catch(() => undefined);
    return write;
  }

  private async write(lines: string): Promise<void> {
    // Once a second: a file grown past its size is rotated; one that another process rotated (or
    // an operator moved) is left for a new one. Lines a process writes before it notices land at
    // the end of the rotated file, still whole.
    if (Date.now() - this.checkedAt > 1000) {
      this.checkedAt = Date.now();
      const named = await stat(this.file).catch(() => null);
      if (named && named.size >= this.rotation.maxFileBytes) {
        await this.rotate();
      } else if (this.handle) {
        const opened = await this.handle.then((h) => h.stat()).catch(() => null);
        if (!named || !opened || named.ino !== opened.ino) await this.closeHandle();
      }
    }
    this.handle ??= mkdir(dirname(this.file), { recursive: true }).then(() => open(this.file, 'a', 0o600));
    let handle: FileHandle;
    try {
      handle = await this.handle;
    } catch (err) {
      this.handle = null; // a folder made later lets the next line try again
      throw err;
    }
    // One write() of whole lines: O_APPEND keeps lines of several processes whole.
    await handle.write(lines);
  }

  /**
   * `audit.ndjson` becomes `audit.ndjson.1`, `.1` becomes `.2` and so on; the oldest past `keep`
   * is removed. Under the file's lock, so that two processes that both saw it too large rotate it
   * once; a lock not had now leaves it for the next check.
   */
  private async rotate(): Promise<void> {
    await this.closeHandle();
    const release = await lockPath(this.file).catch(() => null);
    if (!release) return;
    try {
      const named = await stat(this.file).catch(() => null);
      if (!named || named.size < this.rotation.maxFileBytes) return;
      await rm(this.rotated(this.rotation.keep), { force: true });
      for (let n = this.rotation.keep - 1; n >= 1; n--) {
        await rename(this.rotated(n), this.rotated(n + 1)).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
      }
      await rename(this.file, this.rotated(1));
    } finally {
      await release();
    }
  }

  private rotated(n: number): string {
    return `${this.file}.${n}`;
  }

  /** Closes the file (a server that stops; a CLI process ends without). */
  async close(): Promise<void> {
    await (this.nextWrite ?? this.writing).catch(() => undefined);
    await this.closeHandle();
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await (await handle?.catch(() => null))?.close();
  }

  /**
   * The newest `limit` entries that match, oldest first, from the file and then the rotated ones,
   * newest first: a read stops at the file that fills the limit or that starts before `since`.
   * A line that does not parse is skipped.
   */
  async read(query: AuditQuery = {}): Promise<AuditEntry[]> {
    const limit = query.limit ?? 1000;
    const since = query.since?.getTime();
    const parts: AuditEntry[][] = [];
    let count = 0;
    for (let n = 0; n <= this.rotation.keep && count < limit; n++) {
      const file = await this.readFile(n === 0 ? this.file : this.rotated(n), query, since);
      // The file itself may be missing for a moment (just rotated); a missing rotated file ends the chain.
      if (!file) {
        if (n === 0) continue;
        break;
      }
      const wanted = file.entries.slice(Math.max(0, file.entries.length - (limit - count)));
      parts.unshift(wanted);
      count += wanted.length;
      if (since !== undefined && file.firstTs !== undefined && file.firstTs < since) break;
    }
    return parts.flat();
  }

  /** The matching entries of one file, in order, and the time of its first entry; null when it does not exist. */
  private async readFile(path: string, query: AuditQuery, since: number | undefined): Promise<{ entries: AuditEntry[]; firstTs?: number } | null> {
    const entries: AuditEntry[] = [];
    let firstTs: number | undefined;
    try {
      const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
      for await (const line of lines) {
        if (!line) continue;
        let parsed;
        try {
          parsed = AuditEntrySchema.safeParse(JSON.parse(line));
        } catch {
          continue;
        }
        if (!parsed.success) continue;
        const entry = parsed.data;
        const ts = Date.parse(entry.ts);
        firstTs ??= ts;
        if (since !== undefined && ts < since) continue;
        if (query.project !== undefined && entry.project !== query.project && entry.actor?.project !== query.project) continue;
        entries.push(entry);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    return { entries, firstTs };
  }
}
