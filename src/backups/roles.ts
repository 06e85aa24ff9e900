/**
 * The roles of a logical backup (pg_dumpall --roles-only) that a restore creates in the new
 * instance: every role of the source except the ones the new instance has already and that
 * belong to dbaas or PostgreSQL (the superuser, dbaas_monitor, dbaas_api, pg_* roles), and the
 * application role, which the new instance has made with its own password. What is dropped is
 * dropped whole: its CREATE, its ALTER (attributes, password, settings) and grants to it.
 */

const STATEMENT = /^(CREATE ROLE|ALTER ROLE|GRANT .* TO|COMMENT ON ROLE)\s+/i;
const IDENT = '("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)';

function unquote(ident: string): string {
  return ident.startsWith('"') ? ident.slice(1, -1).replace(/""/g, '"') : ident.toLowerCase();
}

/** The role a line of pg_dumpall's output is about (the one created, altered, or granted to). */
export function roleOfLine(line: string): string | null {
  if (!STATEMENT.test(line)) return null;
  const create = new RegExp(`^(?:CREATE ROLE|ALTER ROLE|COMMENT ON ROLE)\\s+${IDENT}`, 'i').exec(line);
  if (create?.[1]) return unquote(create[1]);
  const grant = new RegExp(`\\sTO\\s+${IDENT}`, 'i').exec(line);
  return grant?.[1] ? unquote(grant[1]) : null;
}

export function isDbaasOrSystemRole(role: string, appRole: string): boolean {
  return role === 'postgres' || role === appRole || role.startsWith('dbaas_') || role.startsWith('pg_');
}

export function rolesToRestore(sql: string, appRole: string): string {
  return sql
    .split('\n')
    .filter((line) => {
      const role = roleOfLine(line);
      return role === null || !isDbaasOrSystemRole(role, appRole);
    })
    .join('\n');
}
