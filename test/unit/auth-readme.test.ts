import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PERMISSIONS, ROLE_PERMISSIONS, ROLES } from '../../src/auth/permissions.js';
import { PROJECT_ROOT } from '../../src/config/settings.js';

/** The README's roles table says what src/auth/permissions.ts grants, permission by permission. */
describe("the README's roles table", () => {
  const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
  const rows = readme
    .split('\n')
    .filter((line) => /^\| `[a-z]+:[a-z]+` \|/.test(line))
    .map((line) => line.split('|').slice(1, -1).map((cell) => cell.trim()));

  it('lists every permission once, in the order of the code', () => {
    expect(rows.map((r) => r[0]?.replaceAll('`', ''))).toEqual([...PERMISSIONS]);
  });

  it('ticks exactly what each role holds', () => {
    for (const row of rows) {
      const permission = row[0]?.replaceAll('`', '') as (typeof PERMISSIONS)[number];
      ROLES.forEach((role, i) => {
        expect(row[2 + i] === '✓', `${role} ${permission}`).toBe(ROLE_PERMISSIONS[role].has(permission));
      });
    }
  });
});
