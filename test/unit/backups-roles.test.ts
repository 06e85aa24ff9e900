import { describe, expect, it } from 'vitest';
import { roleOfLine, rolesToRestore } from '../../src/backups/roles.js';

// What pg_dumpall --roles-only prints for an instance (trimmed), as PostgreSQL 15 writes it.
const DUMPALL = `--
-- PostgreSQL database cluster dump
--

SET default_transaction_read_only = off;

--
-- Roles
--

CREATE ROLE app;
ALTER ROLE app WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:old';
CREATE ROLE dbaas_api;
ALTER ROLE dbaas_api WITH NOSUPERUSER NOINHERIT LOGIN PASSWORD 'SCRAM-SHA-256$4096:x';
CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:y';
CREATE ROLE reader;
ALTER ROLE reader WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
CREATE ROLE "Report ""Team""";
ALTER ROLE "Report ""Team""" WITH LOGIN;
ALTER ROLE reader SET search_path TO 'public';

--
-- Role memberships
--

GRANT pg_monitor TO dbaas_monitor GRANTED BY postgres;
GRANT reader TO "Report ""Team""" GRANTED BY postgres;
GRANT reader TO app GRANTED BY postgres;
`;

describe('the roles a logical restore creates', () => {
  it('reads the role each statement is about, quoted names included', () => {
    expect(roleOfLine('CREATE ROLE app;')).toBe('app');
    expect(roleOfLine('ALTER ROLE "Report ""Team""" WITH LOGIN;')).toBe('Report "Team"');
    expect(roleOfLine('GRANT reader TO app GRANTED BY postgres;')).toBe('app');
    expect(roleOfLine('SET default_transaction_read_only = off;')).toBeNull();
  });

  it("keeps the source's own roles and drops dbaas's, PostgreSQL's and the application role's statements", () => {
    const kept = rolesToRestore(DUMPALL, 'app');
    expect(kept).toContain('CREATE ROLE reader;');
    expect(kept).toContain("ALTER ROLE reader SET search_path TO 'public';");
    expect(kept).toContain('CREATE ROLE "Report ""Team""";');
    expect(kept).toContain('GRANT reader TO "Report ""Team""" GRANTED BY postgres;');
    for (const gone of ['CREATE ROLE app;', 'SCRAM-SHA-256$4096:old', 'dbaas_api', 'CREATE ROLE postgres;', 'dbaas_monitor', 'GRANT reader TO app']) {
      expect(kept).not.toContain(gone);
    }
  });
});
