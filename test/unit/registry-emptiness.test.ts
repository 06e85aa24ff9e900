import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { registryIsEmpty } from '../../src/registry/emptiness.js';
import { REGISTRY_VERSION } from '../../src/registry/registry.js';

describe('registryIsEmpty', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dbaas-emptiness-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('is true for a missing file and for exactly the empty document of this version', () => {
    expect(registryIsEmpty(join(dir, 'missing.json'))).toBe(true);
    expect(registryIsEmpty(file('empty.json', JSON.stringify({ version: REGISTRY_VERSION, instances: [] }, null, 2)))).toBe(true);
  });

  it('is false for anything the Registry must read and validate itself', () => {
    for (const [name, text] of [
      ['one.json', JSON.stringify({ version: REGISTRY_VERSION, instances: [{ id: 'db_x' }] })],
      ['other-version.json', JSON.stringify({ version: REGISTRY_VERSION + 1, instances: [] })],
      ['extra-key.json', JSON.stringify({ version: REGISTRY_VERSION, instances: [], more: 1 })],
      ['truncated.json', '{"version": 1, "instan'],
      ['array.json', '[]'],
      ['null.json', 'null'],
      ['not-array.json', JSON.stringify({ version: REGISTRY_VERSION, instances: {} })],
    ]) {
      expect(registryIsEmpty(file(name as string, text as string)), name).toBe(false);
    }
    expect(registryIsEmpty(dir)).toBe(false); // a folder where the file should be
  });
});
