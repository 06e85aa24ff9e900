import { createReadStream } from 'node:fs';
import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import type { ProgressFn } from '../instances/progress.js';
import type { Principal } from './principal.js';

/**
 * The audit log: `logs/audit.ndjson`, one JSON line per request that changes something, per read
 * of a secret, and per refused attempt at either; the API and the CLI on the host append to the
 * same file. Lines are appended with O_APPEND, one write each, so processes never interleave
 * within a line. Lines that come in one turn of the event loop, or while a write is under way, go
 * out together in the next write (a busy server writes a batch where it wrote a line each). Nothing secret goes in: no token, no
 * password, no request body.
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

  constructor(readonly file: string) {}

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
    if (this.handle && Date.now() - this.checkedAt > 1000) {
      this.checkedAt = Date.now();
      const [named, opened] = await Promise.all([stat(this.file).catch(() => null), this.handle.then((h) => h.stat()).catch(() => null)]);
      if (!named || !opened || named.ino !== opened.ino) await this.closeHandle();
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

  /** The newest `limit` entries that match, oldest first. A line that does not parse is skipped. */
  async read(query: AuditQuery = {}): Promise<AuditEntry[]> {
    const limit = query.limit ?? 1000;
    const since = query.since?.getTime();
    const kept: AuditEntry[] = [];
    let lines;
    try {
      lines = createInterface({ input: createReadStream(this.file, 'utf8'), crlfDelay: Infinity });
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
        if (since !== undefined && Date.parse(entry.ts) < since) continue;
        if (query.project !== undefined && entry.project !== query.project && entry.actor?.project !== query.project) continue;
        kept.push(entry);
        if (kept.length > limit) kept.shift();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return kept;
  }
}
