import { describe, expect, it } from 'vitest';
import { parseRowsQuery, RESERVED_PARAMS } from '../../src/database/service.js';
import { caught } from './fixtures/errors.js';

/** The query string of row routes (PostgREST style). */

const LIMITS = { defaultLimit: 100, maxLimit: 1000 };


const rq = (query: Record<string, string | string[] | undefined>) => parseRowsQuery(query, LIMITS);

describe('parseRowsQuery', () => {
  it('an empty query has the defaults', () => {
    expect(rq({})).toEqual({
      filters: [],
      select: '*',
      order: [],
      limit: 100,
      offset: 0,
      after: undefined,
      count: false,
      onConflict: undefined,
      returning: '*',
      force: false,
      source: {},
    });
  });

  it('RESERVED_PARAMS are the non-filter keys', () => {
    expect([...RESERVED_PARAMS].sort()).toEqual(['after', 'count', 'force', 'limit', 'offset', 'on_conflict', 'order', 'returning', 'select']);
  });

  it('every other key is a filter on that column', () => {
    const q = rq({ id: 'gt.5', name: 'ilike.*ann*', tags: 'is.null', select: 'id,name', order: 'id.desc', limit: '10', offset: '20' });
    expect(q.filters).toEqual([
      { kind: 'filter', field: { column: 'id', path: [] }, op: 'gt', negate: false, value: '5' },
      { kind: 'filter', field: { column: 'name', path: [] }, op: 'ilike', negate: false, value: '*ann*' },
      { kind: 'filter', field: { column: 'tags', path: [] }, op: 'is', negate: false, value: null },
    ]);
    expect(q.select).toEqual(['id', 'name']);
    expect(q.order).toEqual([{ field: { column: 'id', path: [] }, descending: true }]);
    expect(q.limit).toBe(10);
    expect(q.offset).toBe(20);
  });

  it('reserved keys are never filters', () => {
    const q = rq({ select: '*', order: 'a', limit: '1', offset: '0', count: 'exact', on_conflict: 'id', returning: 'none', force: 'true' });
    expect(q.filters).toEqual([]);
  });

  it('a repeated key gives several filters on the column', () => {
    expect(rq({ price: ['gte.10', 'lt.20', 'not.eq.15'] }).filters).toEqual([
      { kind: 'filter', field: { column: 'price', path: [] }, op: 'gte', negate: false, value: '10' },
      { kind: 'filter', field: { column: 'price', path: [] }, op: 'lt', negate: false, value: '20' },
      { kind: 'filter', field: { column: 'price', path: [] }, op: 'eq', negate: true, value: '15' },
    ]);
  });

  it('undefined values are skipped', () => {
    expect(rq({ id: undefined, limit: undefined }).filters).toEqual([]);
    expect(rq({ limit: undefined }).limit).toBe(100);
  });

  it('filter keys are kept as sent, for the catalog to check', () => {
    expect(rq({ 'name" OR 1=1 --': 'eq.1' }).filters[0]).toMatchObject({ field: { column: 'name" OR 1=1 --' } });
  });

  it('a bad filter is VALIDATION_FAILED naming the column', () => {
    const err = caught(() => rq({ price: 'between.1' }));
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.details).toMatchObject({ issues: [{ field: 'price' }] });
    expect(caught(() => rq({ price: ['eq.1', 'nope'] })).details).toMatchObject({ issues: [{ field: 'price' }] });
  });

  it('limit defaults, and is capped at maxLimit', () => {
    expect(rq({}).limit).toBe(100);
    expect(rq({ limit: '0' }).limit).toBe(0);
    expect(rq({ limit: '999' }).limit).toBe(999);
    expect(rq({ limit: '1000' }).limit).toBe(1000);
    expect(rq({ limit: '1001' }).limit).toBe(1000);
    expect(rq({ limit: '9007199254740991' }).limit).toBe(1000);
    expect(parseRowsQuery({}, { defaultLimit: 7, maxLimit: 50 }).limit).toBe(7);
    expect(parseRowsQuery({ limit: '60' }, { defaultLimit: 7, maxLimit: 50 }).limit).toBe(50);
  });

  it('offset defaults to 0 and is not capped', () => {
    expect(rq({}).offset).toBe(0);
    expect(rq({ offset: '5000' }).offset).toBe(5000);
  });

  it.each(['-1', '1.5', '1e3', '', ' ', 'ten', '0x10', '10 ', '+5', '9007199254740993', '1;DROP TABLE x'])(
    'refuses limit and offset %j as VALIDATION_FAILED',
    (value) => {
      for (const key of ['limit', 'offset']) {
        const err = caught(() => rq({ [key]: value }));
        expect(err.code).toBe('VALIDATION_FAILED');
        expect(err.details).toMatchObject({ issues: [{ field: key }] });
        expect(err.message).toMatch(new RegExp(`^${key}: `));
      }
    },
  );

  it('refuses reserved keys given twice', () => {
    for (const key of ['select', 'order', 'limit', 'offset', 'count', 'on_conflict', 'returning', 'force']) {
      const err = caught(() => rq({ [key]: ['1', '2'] }));
      expect(err.code).toBe('VALIDATION_FAILED');
      expect(err.details).toMatchObject({ issues: [{ field: key, message: 'give it once' }] });
    }
  });

  it('count is exact or absent', () => {
    expect(rq({ count: 'exact' }).count).toBe(true);
    expect(rq({}).count).toBe(false);
    for (const value of ['planned', 'estimated', 'EXACT', '', 'true']) {
      const err = caught(() => rq({ count: value }));
      expect(err.code).toBe('VALIDATION_FAILED');
      expect(err.details).toMatchObject({ issues: [{ field: 'count' }] });
    }
  });

  it('select and order are parsed', () => {
    expect(rq({ select: ' a , b ' }).select).toEqual(['a', 'b']);
    expect(rq({ select: '*' }).select).toBe('*');
    expect(rq({ select: '' }).select).toBe('*');
    expect(rq({ order: 'a.desc.nullslast,b' }).order).toEqual([
      { field: { column: 'a', path: [] }, descending: true, nulls: 'last' },
      { field: { column: 'b', path: [] }, descending: false },
    ]);
    expect(rq({ order: '' }).order).toEqual([]);
    expect(caught(() => rq({ order: 'a.sideways' })).code).toBe('VALIDATION_FAILED');
  });

  it('returning is none, * or a list, and * by default', () => {
    expect(rq({ returning: 'none' }).returning).toBeNull();
    expect(rq({ returning: '*' }).returning).toBe('*');
    expect(rq({}).returning).toBe('*');
    expect(rq({ returning: 'id, name' }).returning).toEqual(['id', 'name']);
  });

  it('on_conflict is a trimmed column list', () => {
    expect(rq({ on_conflict: 'id' }).onConflict).toEqual(['id']);
    expect(rq({ on_conflict: 'order_id, line' }).onConflict).toEqual(['order_id', 'line']);
    expect(rq({ on_conflict: '' }).onConflict).toBeUndefined();
    expect(rq({}).onConflict).toBeUndefined();
  });

  it('force is a flag', () => {
    for (const value of ['true', '1', '']) expect(rq({ force: value }).force).toBe(true);
    for (const value of ['false', '0']) expect(rq({ force: value }).force).toBe(false);
    expect(rq({}).force).toBe(false);
    for (const value of ['yes', 'TRUE', 'on', '2']) {
      const err = caught(() => rq({ force: value }));
      expect(err.code).toBe('VALIDATION_FAILED');
      expect(err.details).toMatchObject({ issues: [{ field: 'force', message: 'must be true or false' }] });
    }
  });
});
