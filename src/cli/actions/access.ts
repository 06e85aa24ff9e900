import type { AuditEntry, AuditQuery as AuditFilter } from '../../auth/audit.js';
import { parseDuration } from '../../auth/duration.js';
import type { CreateTokenInput, TokenView } from '../../auth/tokens.js';
import { isRemote } from '../../client/where.js';
import { DbaasError } from '../../errors.js';
import { remote, reported, withSettings, type CommonOptions } from '../context.js';
import { formatAge, printJson, printTable } from '../output.js';

/** What the token and audit commands do (their flags and help: commands/access.ts). */

/** Tokens and the audit log: this host's files, or a remote server's routes (for its admins). */
interface AccessControl {
  createToken(input: CreateTokenInput): Promise<TokenView & { token: string }>;
  listTokens(): Promise<TokenView[]>;
  revokeToken(ref: string): Promise<TokenView>;
  audit(filter: AuditFilter): Promise<AuditEntry[]>;
}

async function withAccess(opts: CommonOptions, body: (access: AccessControl) => Promise<void>): Promise<void> {
  if (isRemote()) {
    return reported(opts, async () => {
      const api = (await remote()).remote;
      if (!api) throw new DbaasError('USAGE', 'no remote server');
      await body({
        createToken: (input) => api.call('POST', '/tokens', { body: input }),
        listTokens: async () => (await api.call<{ tokens: TokenView[] }>('GET', '/tokens')).tokens,
        revokeToken: (ref) => api.call('DELETE', `/tokens/${encodeURIComponent(ref)}`),
        audit: async (filter) =>
          (
            await api.call<{ entries: AuditEntry[] }>('GET', '/audit', {
              query: { since: filter.since?.toISOString(), project: filter.project, limit: filter.limit },
            })
          ).entries,
      });
    });
  }
  await withSettings(opts, async (settings) => {
    const [{ TokenStore }, { AuditLog, rotationOf }, { runtimePaths }] = await Promise.all([
      import('../../auth/tokens.js'),
      import('../../auth/audit.js'),
      import('../../config/settings.js'),
    ]);
    const paths = runtimePaths(settings);
    const tokens = new TokenStore(paths.tokensFile);
    const log = new AuditLog(paths.auditLog, rotationOf(settings));
    await body({
      createToken: (input) => tokens.create(input),
      listTokens: () => tokens.list(),
      revokeToken: (ref) => tokens.revoke(ref),
      audit: (filter) => log.read(filter),
    });
  });
}

export async function createToken(opts: CommonOptions & { name: string; role: string; project?: string; expires?: string }): Promise<void> {
  await withAccess(opts, async (access) => {
    const ms = opts.expires === undefined ? undefined : parseDuration(opts.expires);
    if (opts.expires !== undefined && ms === undefined) {
      throw new DbaasError('USAGE', `--expires takes a duration like 90s, 12h, 30d or 2w, got "${opts.expires}"`);
    }
    const [{ CreateTokenSchema }, { parseInput }] = await Promise.all([import('../../auth/tokens.js'), import('../../validate.js')]);
    const input = parseInput(CreateTokenSchema, {
      name: opts.name,
      role: opts.role,
      project: opts.project,
      expiresInSec: ms === undefined ? undefined : Math.round(ms / 1000),
    });
    const created = await access.createToken(input);
    if (opts.json) return printJson(created);
    process.stderr.write(
      `token ${created.name} (${created.id}), role ${created.role}, ${created.project ? `project ${created.project}` : 'every project'}` +
        `${created.expiresAt ? `, expires ${created.expiresAt}` : ''}.\nIt is shown once; only its hash is kept.\n\n`,
    );
    process.stdout.write(`${created.token}\n`);
  });
}

export async function listTokens(opts: CommonOptions): Promise<void> {
  await withAccess(opts, async (access) => {
    const tokens = await access.listTokens();
    if (opts.json) return printJson({ tokens });
    if (tokens.length === 0) {
      process.stdout.write('no tokens; create one with `dbaas token create --name <name> --role <role>`\n');
      return;
    }
    printTable(
      ['NAME', 'ID', 'ROLE', 'PROJECT', 'STATE', 'CREATED', 'EXPIRES', 'LAST USED'],
      tokens.map((t) => [t.name, t.id, t.role, t.project ?? '*', t.state, formatAge(t.createdAt), t.expiresAt ?? 'never', t.lastUsedAt ? formatAge(t.lastUsedAt) : '-']),
    );
  });
}

export async function revokeToken(ref: string, opts: CommonOptions): Promise<void> {
  await withAccess(opts, async (access) => {
    const revoked = await access.revokeToken(ref);
    if (opts.json) return printJson(revoked);
    process.stdout.write(`token ${revoked.name} (${revoked.id}) is revoked\n`);
  });
}

export async function audit(opts: CommonOptions & { since?: string; project?: string; limit?: string }): Promise<void> {
  await withAccess(opts, async (access) => {
    // --since takes a time or a duration back from now (24h, 7d).
    const ago = opts.since === undefined ? undefined : parseDuration(opts.since);
    const since = ago !== undefined ? new Date(Date.now() - ago).toISOString() : opts.since;
    const [{ AuditQuery }, { parseInput }] = await Promise.all([import('../../api/routes/access.js'), import('../../validate.js')]);
    const query = parseInput(AuditQuery, { since, project: opts.project, limit: opts.limit });
    const entries = await access.audit({
      ...(query.since ? { since: new Date(query.since) } : {}),
      ...(query.project ? { project: query.project } : {}),
      limit: query.limit,
    });
    if (opts.json) return printJson({ entries });
    if (entries.length === 0) {
      process.stdout.write('no audit entries\n');
      return;
    }
    printTable(
      ['TIME', 'ACTOR', 'CLIENT', 'ACTION', 'TARGET', 'OUTCOME'],
      entries.map((e) => [
        e.ts,
        e.actor ? `${e.actor.name}${e.actor.project ? `@${e.actor.project}` : ''}` : '(no token)',
        e.client,
        e.action,
        e.target ?? '-',
        `${e.outcome} ${e.status}${e.error ? ` ${e.error}` : ''}`,
      ]),
    );
  });
}
