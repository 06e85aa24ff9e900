import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { DbaasError } from '../errors.js';
import { JsonDocument } from '../jsonDocument.js';
import { generatePassword } from '../registry/secrets.js';
import { RoleSchema, type Role } from './permissions.js';
import type { Principal } from './principal.js';
import { DEFAULT_PROJECT, ProjectNameSchema } from './project.js';

/**
 * API tokens: `config/tokens.json` keeps each token's name, role, project, expiry and the sha256
 * of its secret, never the token. A token reads `dbaas_<id>_<secret>`: the id finds the record,
 * the secret's hash is compared in constant time. The secret has about 238 bits of entropy, so a
 * plain hash suffices (a slow password hash protects guessable secrets, which these are not).
 */

export const TOKENS_VERSION = 1;
const TOKEN_PATTERN = /^dbaas_(tok_[a-z0-9]{10})_([A-Za-z0-9]{40})$/;

export const TokenNameSchema = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'must be lowercase letters, digits, ".", "_" or "-", starting with a letter or digit')
  .meta({ description: 'A name to recognise the token by (unique among tokens not revoked)', example: 'ci' });

const TokenRecordSchema = z.object({
  id: z.string().regex(/^tok_[a-z0-9]{10}$/),
  name: TokenNameSchema,
  role: RoleSchema,
  /** null for an admin: every project. */
  project: ProjectNameSchema.nullable(),
  /** sha256 of the secret, hex. */
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
});
export type TokenRecord = z.output<typeof TokenRecordSchema>;

const TokensFileSchema = z.object({ version: z.literal(TOKENS_VERSION), tokens: z.array(TokenRecordSchema) });

/** A token as listed: everything but the hash, and whether it still works. */
export const TokenViewSchema = TokenRecordSchema.omit({ hash: true })
  .extend({ state: z.enum(['active', 'expired', 'revoked']) })
  .meta({ id: 'Token' });
export type TokenView = z.output<typeof TokenViewSchema>;
export const TokenListSchema = z.object({ tokens: z.array(TokenViewSchema) }).meta({ id: 'TokenList' });
export const CreatedTokenSchema = TokenViewSchema.extend({
  token: z.string().meta({ description: 'The token itself; shown once, never stored' }),
}).meta({ id: 'CreatedToken' });

export const CreateTokenSchema = z
  .object({
    name: TokenNameSchema,
    role: RoleSchema,
    project: ProjectNameSchema.optional().meta({ description: 'The project of an owner, developer or viewer (default "default"); none for an admin' }),
    expiresInSec: z.number().int().min(1).max(10 * 365 * 86_400).optional().meta({ description: 'Seconds until it expires (default never)' }),
  })
  .strict()
  .meta({ id: 'CreateToken' });
export type CreateTokenInput = z.output<typeof CreateTokenSchema>;

const hashOf = (secret: string) => createHash('sha256').update(secret).digest();
/** Compared against when the id is unknown, so that an unknown id takes as long as a wrong secret. */
const DECOY = hashOf('decoy');

function stateOf(record: TokenRecord, now = Date.now()): TokenView['state'] {
  return record.revokedAt ? 'revoked' : record.expiresAt && Date.parse(record.expiresAt) <= now ? 'expired' : 'active';
}

function view(record: TokenRecord, now = Date.now()): TokenView {
  const { hash: _hash, ...rest } = record;
  return { ...rest, state: stateOf(record, now) };
}

function newId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return `tok_${Array.from(randomBytes(10), (b) => alphabet[b % alphabet.length]).join('')}`;
}

/** Why a presented token was refused; the client sees one message for all of them. */
export type RefusalReason = 'malformed' | 'unknown' | 'expired' | 'revoked';

export class TokenStore {
  private readonly doc: JsonDocument<typeof TokensFileSchema>;
  /** When each token's lastUsedAt was last written, so that busy tokens cost one write a minute. */
  private readonly touched = new Map<string, number>();
  /** Tokens whose hash matched, per snapshot of the file (see authenticate). */
  private verified: { doc: unknown; tokens: Map<string, TokenRecord> } = { doc: null, tokens: new Map() };
  /** The lastUsedAt writes still running, so that close() can wait for them (a write racing a removal of the folder fails). */
  private readonly writes = new Set<Promise<void>>();

  constructor(file: string) {
    this.doc = new JsonDocument(file, TokensFileSchema, () => ({ version: TOKENS_VERSION, tokens: [] }), `tokens format v${TOKENS_VERSION}`);
  }

  async create(input: CreateTokenInput): Promise<TokenView & { token: string }> {
    if (input.role === 'admin' && input.project !== undefined) {
      throw new DbaasError('VALIDATION_FAILED', 'project: an admin token covers every project; give no project', {
        issues: [{ field: 'project', message: 'an admin token covers every project' }],
      });
    }
    const secret = generatePassword(40);
    const now = new Date();
    const record: TokenRecord = {
      id: newId(),
      name: input.name,
      role: input.role,
      project: input.role === 'admin' ? null : (input.project ?? DEFAULT_PROJECT),
      hash: hashOf(secret).toString('hex'),
      createdAt: now.toISOString(),
      expiresAt: input.expiresInSec ? new Date(now.getTime() + input.expiresInSec * 1000).toISOString() : null,
      revokedAt: null,
      lastUsedAt: null,
    };
    await this.doc.update((doc) => {
      if (doc.tokens.some((t) => t.name === input.name && view(t).state !== 'revoked')) {
        throw new DbaasError('NAME_TAKEN', `a token named "${input.name}" exists; revoke it first or choose another name`, { name: input.name });
      }
      doc.tokens.push(record);
    });
    return { ...view(record), token: `dbaas_${record.id}_${secret}` };
  }

  async list(): Promise<TokenView[]> {
    const now = Date.now();
    return (await this.doc.read()).tokens.map((t) => view(t, now));
  }

  /** Whether any token could still be used: `dbaas serve` refuses a network address without one. */
  async hasActive(): Promise<boolean> {
    return (await this.list()).some((t) => t.state === 'active');
  }

  /** Revokes a token by id or name (a revoked one stays listed, for the audit trail). */
  async revoke(ref: string): Promise<TokenView> {
    return this.doc.update((doc) => {
      const matches = doc.tokens.filter((t) => t.id === ref || (t.name === ref && !t.revokedAt));
      const record = matches[0];
      if (!record) throw new DbaasError('TOKEN_NOT_FOUND', `no token with id or name "${ref}"`, { token: ref });
      record.revokedAt ??= new Date().toISOString();
      return view(record);
    });
  }

  /** The principal of a presented token, or why it is refused. */
  async authenticate(presented: string): Promise<{ principal: Principal } | { refused: RefusalReason }> {
    const match = TOKEN_PATTERN.exec(presented);
    if (!match) return { refused: 'malformed' };
    const [, id, secret] = match as unknown as [string, string, string];
    // A token found in a snapshot checked within the last 100 ms is checked against that one
    // (a revocation by another process takes effect within it); one not found reads the file again.
    const find = (doc: { tokens: TokenRecord[] }) => doc.tokens.find((t) => t.id === id);
    const snapshot = await this.doc.read(100);
    let record = find(snapshot);
    let doc = snapshot;
    if (!record) {
      doc = await this.doc.read();
      record = find(doc);
    }
    // A token already verified against this very snapshot needs no second hash: the snapshot is
    // replaced whenever the file changes, and the cache with it.
    if (this.verified.doc !== doc) this.verified = { doc, tokens: new Map() };
    if (!record || this.verified.tokens.get(presented) !== record) {
      const expected = record ? Buffer.from(record.hash, 'hex') : DECOY;
      const same = timingSafeEqual(hashOf(secret), expected);
      if (!record || !same) return { refused: 'unknown' };
      if (this.verified.tokens.size < 1000) this.verified.tokens.set(presented, record);
    }
    const state = stateOf(record);
    if (state !== 'active') return { refused: state };
    this.touch(record.id);
    return { principal: { kind: 'token', tokenId: record.id, name: record.name, role: record.role, project: record.project } };
  }

  /** Records when a token was last used, at most once a minute per token, without delaying the request. */
  private touch(id: string): void {
    const now = Date.now();
    if (now - (this.touched.get(id) ?? 0) < 60_000) return;
    this.touched.set(id, now);
    const write = this.doc
      .update((doc) => {
        const record = doc.tokens.find((t) => t.id === id);
        if (record) record.lastUsedAt = new Date(now).toISOString();
      })
      .catch(() => undefined)
      .finally(() => this.writes.delete(write));
    this.writes.add(write);
  }

  /** Waits for the background lastUsedAt writes to land. */
  async close(): Promise<void> {
    await Promise.all([...this.writes]);
  }
}
