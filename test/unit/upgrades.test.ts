import { describe, expect, it } from 'vitest';
import { upgradeProblems, type ClusterFacts } from '../../src/upgrades/checks.js';
import { compatLibraryDir, upgradeDockerfile, upgradeImageTag } from '../../src/upgrades/image.js';

const facts: ClusterFacts = {
  encoding: 'UTF8',
  collate: 'C.UTF-8',
  ctype: 'C.UTF-8',
  checksums: false,
  sizeBytes: 1024 ** 3,
  extensions: { app: ['pgcrypto'], postgres: [] },
  preparedTransactions: 0,
};
const GiB = 1024 ** 3;

describe('upgradeProblems', () => {
  it('finds nothing to refuse when everything is in order', () => {
    expect(upgradeProblems(facts, new Set(['pgcrypto']), 10 * GiB, 'link', 17)).toEqual([]);
  });

  it('names every reason at once: prepared transactions, missing extensions per database, disk', () => {
    const problems = upgradeProblems({ ...facts, preparedTransactions: 2, extensions: { app: ['pgcrypto', 'postgis'], other: ['timescaledb'] } }, new Set(['pgcrypto']), 100 * 1024 ** 2, 'dump', 17);
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/2 prepared transaction/);
    expect(problems[1]).toMatch(/database app uses extension\(s\) postgis/);
    expect(problems[2]).toMatch(/database other uses extension\(s\) timescaledb/);
    expect(problems[3]).toMatch(/--method dump needs about/);
  });

  it('asks the dump method for the data again and the link method for little', () => {
    // 1 GiB of data, 1.2 GiB free: enough to link, not to dump (120 % + 256 MiB).
    expect(upgradeProblems(facts, new Set(['pgcrypto']), 1.2 * GiB, 'link', 17)).toEqual([]);
    expect(upgradeProblems(facts, new Set(['pgcrypto']), 1.2 * GiB, 'dump', 17)).toHaveLength(1);
  });
});

describe('the upgrade image', () => {
  it('is the target image by id, with the old binaries, their own libraries on LD_LIBRARY_PATH, and both ids as labels', () => {
    const text = upgradeDockerfile({ version: 13, image: 'postgres:13', id: 'a'.repeat(64) }, { version: 17, image: 'postgres:17', id: 'b'.repeat(64) });
    const froms = text.split('\n').filter((l) => l.startsWith('FROM '));
    expect(froms).toEqual([`FROM sha256:${'a'.repeat(64)} AS old`, `FROM sha256:${'b'.repeat(64)} AS compat`, `FROM sha256:${'b'.repeat(64)}`]);
    expect(text).toContain(`ENV LD_LIBRARY_PATH=${compatLibraryDir(13)}`);
    expect(text).toContain(`COPY --from=compat /usr/lib/postgresql/13 /usr/lib/postgresql/13`);
    expect(text).toMatch(/LABEL dbaas\.upgrade\.from-image="a{64}" dbaas\.upgrade\.to-image="b{64}"/);
    expect(upgradeImageTag(13, 17)).toBe('dbaas-upgrade:13-to-17');
  });
});
