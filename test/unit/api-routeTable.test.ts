import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DbaasError } from '../../src/errors.js';
import { InstanceRefParams, queryFlag, toExpressPath } from '../../src/api/routeTable.js';
import { parseInput } from '../../src/validate.js';

describe('queryFlag', () => {
  it.each([
    ['true', true],
    ['1', true],
    ['yes', true],
    ['', true], // ?force
    [true, true],
    ['false', false],
    ['0', false],
    ['no', false],
    [false, false],
    [undefined, false], // absent
  ])('%j -> %s', (input, expected) => {
    expect(queryFlag.parse(input)).toBe(expected);
  });

  it.each(['TRUE', 'Yes', 'on', 'off', 'maybe', '2', ' true', 1, 0, null, ['true', 'true'], {}])(
    'rejects %j',
    (input) => {
      expect(queryFlag.safeParse(input).success).toBe(false);
    },
  );

  it('works inside a query schema as express hands it over', () => {
    const Query = z.object({ force: queryFlag, keepData: queryFlag });
    expect(parseInput(Query, { force: '' })).toEqual({ force: true, keepData: false });
    expect(parseInput(Query, { force: 'no', keepData: 'yes' })).toEqual({ force: false, keepData: true });
    expect(parseInput(Query, {})).toEqual({ force: false, keepData: false });
    try {
      parseInput(Query, { force: 'maybe' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DbaasError);
      expect((err as DbaasError).code).toBe('VALIDATION_FAILED');
      expect((err as DbaasError).message).toMatch(/^force: /);
    }
  });
});

describe('toExpressPath', () => {
  it.each([
    ['/instances', '/instances'],
    ['/instances/{ref}', '/instances/:ref'],
    ['/instances/{ref}/start', '/instances/:ref/start'],
    ['/database/{ref}/tables/{name}/rows/{pk}', '/database/:ref/tables/:name/rows/:pk'],
    ['/monitoring/{instance_id}/metrics', '/monitoring/:instance_id/metrics'],
    ['/', '/'],
  ])('%s -> %s', (openapi, express) => {
    expect(toExpressPath(openapi)).toBe(express);
  });
});

describe('InstanceRefParams', () => {
  it('accepts ids and names of 1-64 characters', () => {
    expect(parseInput(InstanceRefParams, { ref: 'orders' })).toEqual({ ref: 'orders' });
    expect(parseInput(InstanceRefParams, { ref: 'db_abc123' })).toEqual({ ref: 'db_abc123' });
  });

  it('rejects an empty or too long ref, naming the field', () => {
    for (const ref of ['', 'x'.repeat(65)]) {
      try {
        parseInput(InstanceRefParams, { ref });
        expect.unreachable();
      } catch (err) {
        expect((err as DbaasError).code).toBe('VALIDATION_FAILED');
        expect((err as DbaasError).details?.issues).toEqual([expect.objectContaining({ field: 'ref' })]);
      }
    }
  });
});
