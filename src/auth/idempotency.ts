import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { link, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { z } from 'zod';
import { ownerAlive } from '../instances/status.js';

/**
 * Idempotency keys (the `Idempotency-Key` header of Stripe and the IETF draft): a POST that
 * creates something, sent again with the same key and the same body within 24 hours, answers
 * what the first answered without doing the work twice. One file per key under
 * `config/idempotency/`, claimed with link() so that of two concurrent requests exactly one
 * runs; the other sees it running. Keys are scoped to the caller (a token, or the host), so one
 * client cannot replay another's answers. The stored answer is sealed with the master key: the
 * answer to a create holds the new instance's password.
 */

/** Seals and opens the stored answers (the registry's SecretBox). */
export interface Sealer {
  seal(plain: string): string;
  open(sealed: string): string;
}

export const KEEP_MS = 24 * 3600_000;

export const IdempotencyKeySchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, 'must be 1-255 printable ASCII characters without spaces');

const EntrySchema = z.object({
  fingerprint: z.string(),
  createdAt: z.number(),
  owner: z.object({ pid: z.number().int(), host: z.string() }),
  state: z.enum(['running', 'done']),
  /** The answer, `{ status, body }` as JSON, sealed. */
  answer: z.string().optional(),
});
type Entry = z.output<typeof EntrySchema>;

export type Claim =
  | { kind: 'claimed'; finish(status: number, body: unknown): Promise<void>; release(): Promise<void> }
  | { kind: 'replay'; status: number; body: unknown }
  | { kind: 'mismatch' }
  | { kind: 'running' };

/** JSON with object keys sorted, so that the same body always has the same fingerprint. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function fingerprintOf(method: string, path: string, body: unknown): string {
  return createHash('sha256').update(`${method} ${path}\n${canonicalJson(body ?? null)}`).digest('hex');
}

export class IdempotencyStore {
  private made = false;

  constructor(
    readonly dir: string,
    private readonly sealer: Sealer,
  ) {}

  private fileOf(caller: string, key: string): string {
    return join(this.dir, `${createHash('sha256').update(`${caller}\0${key}`).digest('hex')}.json`);
  }

  /** Claims a key for a request, or says what became of the first request that used it. */
  async claim(caller: string, key: string, fingerprint: string): Promise<Claim> {
    if (!this.made) {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      this.made = true;
    }
    const file = this.fileOf(caller, key);
    for (let attempt = 0; attempt < 3; attempt++) {
      const entry: Entry = { fingerprint, createdAt: Date.now(), owner: { pid: process.pid, host: hostname() }, state: 'running' };
      const temp = `${file}.${process.pid}.${Date.now()}.new`;
      await writeFile(temp, JSON.stringify(entry), { mode: 0o600 });
      try {
        await link(temp, file);
        return {
          kind: 'claimed',
          finish: async (status, body) => {
            const answer = this.sealer.seal(JSON.stringify({ status, body }));
            await writeFileAtomic(file, JSON.stringify({ ...entry, state: 'done', answer } satisfies Entry), { mode: 0o600 });
          },
          release: () => unlink(file).catch(() => undefined),
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        await unlink(temp).catch(() => undefined);
      }
      const existing = await this.read(file);
      // Expired, unreadable, or claimed by a process that died: the key is free again.
      if (!existing || Date.now() - existing.createdAt > KEEP_MS || (existing.state === 'running' && !ownerAlive(existing.owner))) {
        await unlink(file).catch(() => undefined);
        continue;
      }
      if (existing.fingerprint !== fingerprint) return { kind: 'mismatch' };
      if (existing.state === 'done' && existing.answer) {
        const { status, body } = JSON.parse(this.sealer.open(existing.answer)) as { status: number; body: unknown };
        return { kind: 'replay', status, body };
      }
      return { kind: 'running' };
    }
    return { kind: 'running' };
  }

  private async read(file: string): Promise<Entry | null> {
    try {
      const parsed = EntrySchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  /** Removes keys older than 24 hours (called now and then by the server). */
  async sweep(now = Date.now()): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      if (!name.endsWith('.json')) continue;
      const file = join(this.dir, name);
      const s = await stat(file).catch(() => null);
      if (s && now - s.mtimeMs > KEEP_MS) {
        await unlink(file).catch(() => undefined);
        removed++;
      }
    }
    return removed;
  }
}
