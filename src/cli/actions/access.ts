import { DbaasError } from '../../errors.js';
import { AuditLog } from '../../auth/audit.js';
import { parseDuration } from '../../auth/duration.js';
import { CreateTokenSchema, TokenStore, type TokenView } from '../../auth/tokens.js';
import { runtimePaths } from '../../config/settings.js';
import { AuditQuery } from '../../api/routes/access.js';
import { parseInput } from '../../validate.js';
import { withSettings, type CommonOptions } from '../context.js';
import { formatAge, printJson, printTable } from '../output.js';

/** What the token and audit commands do (their flags and help: commands/access.ts). */

export async function createToken(opts: CommonOptions & { name: string; role: string; project?: string; expires?: string }): Promise<void> {
  await withSettings(opts, async (settings) => {
    const ms = opts.expires === undefined ? undefined : parseDuration(opts.expires);
    if (opts.expires !== undefined && ms === undefined) {
      throw new DbaasError('USAGE', `--expires takes a duration like 90s, 12h, 30d or 2w, got "${opts.expires}"`);
    }
    const input = parseInput(CreateTokenSchema, {
      name: opts.name,
      role: opts.role,
      project: opts.project,
      expiresInSec: ms === undefined ? undefined : Math.round(ms / 1000),
    });
    const created = await new TokenStore(runtimePaths(settings).tokensFile).create(input);
    if (opts.json) return printJson(created);
    process.stderr.write(
      `token ${created.name} (${created.id}), role ${created.role}, ${created.project ? `project ${created.project}` : 'every project'}` +
        `${created.expiresAt ? `, expires ${created.expiresAt}` : ''}.\nIt is shown once; only its hash is kept.\n\n`,
    );
    process.stdout.write(`${created.token}\n`);
  });
}

export async function listTokens(opts: CommonOptions): Promise<void> {
  await withSettings(opts, async (settings) => {
    const tokens = await new TokenStore(runtimePaths(settings).tokensFile).list();
    if (opts.json) return printJson({ tokens });
    if (tokens.length === 0) {
      process.stdout.write('no tokens; create one with `dbaas token create --name <name> --role <role>`\n');
      return;
    }
    printTable(
      ['NAME', 'ID', 'ROLE', 'PROJECT', 'STATE', 'CREATED', 'EXPIRES', 'LAST USED'],
      tokens.map((t: TokenView) => [
        t.name,
        t.id,
        t.role,
        t.project ?? '*',
        t.state,
        formatAge(t.createdAt),
        t.expiresAt ?? 'never',
        t.lastUsedAt ? formatAge(t.lastUsedAt) : '-',
      ]),
    );
  });
}

export async function revokeToken(ref: string, opts: CommonOptions): Promise<void> {
  await withSettings(opts, async (settings) => {
    const revoked = await new TokenStore(runtimePaths(settings).tokensFile).revoke(ref);
    if (opts.json) return printJson(revoked);
    process.stdout.write(`token ${revoked.name} (${revoked.id}) is revoked\n`);
  });
}

export async function audit(opts: CommonOptions & { since?: string; project?: string; limit?: string }): Promise<void> {
  await withSettings(opts, async (settings) => {
    // --since takes a time or a duration back from now (24h, 7d).
    const ago = opts.since === undefined ? undefined : parseDuration(opts.since);
    const since = ago !== undefined ? new Date(Date.now() - ago).toISOString() : opts.since;
    const query = parseInput(AuditQuery, { since, project: opts.project, limit: opts.limit });
    const entries = await new AuditLog(runtimePaths(settings).auditLog).read({
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

