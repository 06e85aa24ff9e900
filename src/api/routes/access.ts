import { z } from 'zod';
import { AuditListSchema, type AuditLog } from '../../auth/audit.js';
import { ProjectNameSchema } from '../../auth/project.js';
import { CreatedTokenSchema, CreateTokenSchema, TokenListSchema, TokenViewSchema, type TokenStore } from '../../auth/tokens.js';
import { route, type RouteDef } from '../routeTable.js';

const TokenParams = z.object({ id: z.string().min(1).max(64).meta({ description: 'Token id (tok_...) or name' }) });

export const AuditQuery = z.object({
  since: z.iso.datetime({ offset: true }).optional().meta({ description: 'Only entries at or after this time (ISO 8601)' }),
  project: ProjectNameSchema.optional().meta({ description: "Only entries about this project's instances or by its tokens" }),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000).meta({ description: 'The newest this many entries' }),
});

/** Tokens and the audit log: the installation's own administration, for admins only. */
export function accessRoutes(tokens: TokenStore, audit: AuditLog): RouteDef[] {
  const tag = 'access';
  return [
    route({
      method: 'post',
      path: '/tokens',
      operationId: 'createToken',
      permission: 'system:admin',
      scope: 'none',
      tag,
      summary: 'Create an API token; the token is in the answer once and never stored',
      body: CreateTokenSchema,
      success: { status: 201, description: 'The token, with its secret (shown once)', schema: CreatedTokenSchema },
      errors: ['NAME_TAKEN'],
      handler: ({ body }) => tokens.create(body),
    }),
    route({
      method: 'get',
      path: '/tokens',
      operationId: 'listTokens',
      permission: 'system:admin',
      scope: 'none',
      tag,
      summary: 'Every token (never the secrets), revoked and expired ones too',
      success: { status: 200, description: 'Tokens', schema: TokenListSchema },
      errors: [],
      handler: async () => ({ tokens: await tokens.list() }),
    }),
    route({
      method: 'delete',
      path: '/tokens/{id}',
      operationId: 'revokeToken',
      permission: 'system:admin',
      scope: 'none',
      tag,
      summary: 'Revoke a token at once (it stays listed as revoked)',
      params: TokenParams,
      success: { status: 200, description: 'The revoked token', schema: TokenViewSchema },
      errors: ['TOKEN_NOT_FOUND'],
      handler: ({ params }) => tokens.revoke(params.id),
    }),
    route({
      method: 'get',
      path: '/audit',
      operationId: 'listAuditEntries',
      permission: 'system:admin',
      scope: 'none',
      tag,
      summary: 'The audit log: every change and every read of a secret, by whom, from where, with what outcome',
      query: AuditQuery,
      success: { status: 200, description: 'Entries, oldest first', schema: AuditListSchema },
      errors: [],
      handler: async ({ query }) => ({
        entries: await audit.read({ ...(query.since ? { since: new Date(query.since) } : {}), ...(query.project ? { project: query.project } : {}), limit: query.limit }),
      }),
    }),
  ];
}
