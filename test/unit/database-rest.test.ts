import { describe, expect, it } from 'vitest';
import type { ColumnInfo } from '../../src/database/catalog.js';
import { parseLogic, parsePrefer, parseRange, parseReadQuery, parseSelect } from '../../src/database/rest/grammar.js';
import { contentRange, negotiate, statusOfSqlState, toPgrstError } from '../../src/database/rest/protocol.js';
import type { ForeignKey, RestSchema, RestTable } from '../../src/database/rest/schema.js';
import { Builder, castSql, decodeCursor, encodeCursor, findRelationship, keysetCondition, keysetOrder, tableSource } from '../../src/database/rest/sql.js';
import { renderTypes } from '../../src/database/rest/typescript.js';
import { DbaasError } from '../../src/errors.js';
import { caught } from './fixtures/errors.js';

/** The PostgREST endpoint's pure parts: its grammar, protocol details, relationships and SQL pieces. */

function col(name: string, udtName: string, extra: Partial<ColumnInfo> = {}): ColumnInfo {
  return { name, type: udtName, udtName, category: '', elementType: null, nullable: false, default: null, identity: false, generated: false, position: 0, ...extra };
}
function table(name: string, columns: ColumnInfo[], primaryKey: string[], uniqueKeys: string[][] = [primaryKey]): RestTable {
  return { oid: 0, schema: 'public', name, kind: 'table', columns, primaryKey, foreignKeys: [], indexes: [], uniqueKeys };
}
const users = table('users', [col('id', 'int4'), col('name', 'text', { nullable: true })], ['id']);
const messages = table('messages', [col('id', 'int4'), col('sender_id', 'int4'), col('receiver_id', 'int4'), col('body', 'text', { nullable: true })], ['id']);
const profiles = table('profiles', [col('user_id', 'int4'), col('bio', 'text', { nullable: true })], ['user_id']);
const fk = (name: string, from: RestTable, fromColumns: string[], to: RestTable, toColumns: string[]): ForeignKey => ({ name, from, fromColumns, to, toColumns });
const SCHEMA: RestSchema = {
  name: 'public',
  tables: new Map([users, messages, profiles].map((t) => [t.name, t])),
  foreignKeys: [
    fk('messages_sender_fkey', messages, ['sender_id'], users, ['id']),
    fk('messages_receiver_fkey', messages, ['receiver_id'], users, ['id']),
    fk('profiles_user_fkey', profiles, ['user_id'], users, ['id']),
  ],
  functions: new Map(),
  enums: new Map([['mood', ['happy', 'sad']]]),
};

describe('the select grammar', () => {
  it('reads renames, casts, JSON paths and nested embeds with hints, !inner and spreads', () => {
    expect(parseSelect('id,n:name::text,data->a->>b,first:tags->0,sender:users!sender_id!inner(name),...profiles(bio)')).toEqual([
      { kind: 'column', field: { column: 'id', path: [] }, alias: undefined, cast: undefined },
      { kind: 'column', field: { column: 'name', path: [] }, alias: 'n', cast: 'text' },
      { kind: 'column', field: { column: 'data', path: [{ arrow: '->', key: 'a' }, { arrow: '->>', key: 'b' }] }, alias: undefined, cast: undefined },
      { kind: 'column', field: { column: 'tags', path: [{ arrow: '->', key: '0', index: 0 }] }, alias: 'first', cast: undefined },
      { kind: 'embed', target: 'users', alias: 'sender', hint: 'sender_id', inner: true, spread: false, select: [{ kind: 'column', field: { column: 'name', path: [] }, alias: undefined, cast: undefined }] },
      { kind: 'embed', target: 'profiles', alias: undefined, hint: undefined, inner: false, spread: true, select: [{ kind: 'column', field: { column: 'bio', path: [] }, alias: undefined, cast: undefined }] },
    ]);
    expect(parseSelect(undefined)).toEqual([{ kind: 'star' }]);
    expect(parseSelect('"my col",x(*)')[0]).toMatchObject({ field: { column: 'my col' } });
  });

  it.each(['id,,name', 'x(', 'a::text;drop', 'a:(b)'])('refuses %j as PGRST100', (text) => {
    const err = caught(() => parseSelect(text));
    expect(err.details).toMatchObject({ pgrst: 'PGRST100' });
  });

  it('quotes a cast so that it can only name a type', () => {
    expect(castSql('integer')).toBe('::"int4"');
    expect(castSql('text[]')).toBe('::"text"[]');
    expect(castSql('Double Precision')).toBe('::"float8"');
  });
});

describe('the filter grammar', () => {
  it('keys filters, logic, order and pages by the path of embedded resources', () => {
    const q = parseReadQuery({ id: 'gt.1', 'users.name': 'eq.x', 'users.order': 'name.desc', 'users.limit': '2', or: '(a.eq.1,b.is.null)', 'not.and': '(c.lt.1)', after: '', select: 'id' });
    expect(q.nodes.get('')?.conditions.map((c) => c.kind)).toEqual(['filter', 'logic', 'logic']);
    expect(q.nodes.get('users')).toMatchObject({ order: [{ field: { column: 'name' }, descending: true }], limit: 2, conditions: [{ op: 'eq', value: 'x' }] });
    expect(q.other.get('after')).toBe('');
  });

  it('nests or/and with quoted values, lists and negation', () => {
    expect(parseLogic('or', false, '(name.eq."a,b",and(id.in.(1,2),not.or(x.is.true)),note.like.*x*)')).toEqual({
      kind: 'logic',
      op: 'or',
      negate: false,
      children: [
        { kind: 'filter', field: { column: 'name', path: [] }, op: 'eq', negate: false, value: 'a,b' },
        {
          kind: 'logic',
          op: 'and',
          negate: false,
          children: [
            { kind: 'filter', field: { column: 'id', path: [] }, op: 'in', negate: false, value: ['1', '2'] },
            { kind: 'logic', op: 'or', negate: true, children: [{ kind: 'filter', field: { column: 'x', path: [] }, op: 'is', negate: false, value: true }] },
          ],
        },
        { kind: 'filter', field: { column: 'note', path: [] }, op: 'like', negate: false, value: '*x*' },
      ],
    });
  });

  it('takes any/all lists and a text search configuration', () => {
    expect(parseReadQuery({ name: 'like(all).{a*,*b}', body: 'wfts(english).cat dog' }).nodes.get('')?.conditions).toEqual([
      { kind: 'filter', field: { column: 'name', path: [] }, op: 'like', negate: false, quantifier: 'all', value: ['a*', '*b'] },
      { kind: 'filter', field: { column: 'body', path: [] }, op: 'wfts', negate: false, language: 'english', value: 'cat dog' },
    ]);
  });
});

describe('the protocol', () => {
  it('reads Range, Prefer and Accept as PostgREST does', () => {
    expect(parseRange('0-9')).toEqual({ offset: 0, limit: 10 });
    expect(parseRange('5-')).toEqual({ offset: 5 });
    expect(parseRange('nonsense')).toBeUndefined();
    expect(parsePrefer(['return=representation, count=exact', 'resolution=merge-duplicates,missing=default,tx=rollback,max-affected=5,handling=strict'])).toEqual({
      return: 'representation',
      count: 'exact',
      resolution: 'merge-duplicates',
      missing: 'default',
      tx: 'rollback',
      maxAffected: 5,
      handling: 'strict',
    });
    expect(negotiate(undefined)).toEqual({ kind: 'json', stripNulls: false });
    expect(negotiate('application/vnd.pgrst.object+json;nulls=stripped')).toEqual({ kind: 'object', stripNulls: true });
    expect(negotiate('text/html, text/csv')).toEqual({ kind: 'csv', stripNulls: false });
    expect(caught(() => negotiate('application/xml')).details).toMatchObject({ pgrst: 'PGRST107', status: 406 });
    expect([contentRange(0, 10, 100), contentRange(20, 0, null), contentRange(5, 1, null)]).toEqual(['0-9/100', '*/*', '5-5/*']);
  });

  it('maps errors to PostgREST codes and statuses', () => {
    expect([statusOfSqlState('23505'), statusOfSqlState('42501'), statusOfSqlState('22P02'), statusOfSqlState('P0001'), statusOfSqlState('53300')]).toEqual([409, 403, 400, 400, 503]);
    const pg = new DbaasError('UNIQUE_VIOLATION', 'duplicate key', { sqlstate: '23505', detail: 'Key (id)=(1) already exists.' });
    expect(toPgrstError(pg, 409)).toEqual({ status: 409, body: { code: '23505', message: 'duplicate key', details: 'Key (id)=(1) already exists.', hint: null } });
    expect(toPgrstError(new DbaasError('FORBIDDEN', 'no', { permission: 'data:write' }), 403).body).toEqual({
      code: '42501',
      message: 'no',
      details: null,
      hint: "the token's role lacks the permission data:write",
    });
    expect(toPgrstError(new DbaasError('INSTANCE_NOT_RUNNING', 'stopped'), 503)).toMatchObject({ status: 503, body: { code: 'INSTANCE_NOT_RUNNING' } });
  });
});

describe('relationships', () => {
  it('finds many-to-one, one-to-many and one-to-one, and needs a hint when two keys lead to one table', () => {
    expect(findRelationship(SCHEMA, messages, 'users', 'sender_id')).toMatchObject({ kind: 'many-to-one', fk: { name: 'messages_sender_fkey' } });
    expect(findRelationship(SCHEMA, messages, 'receiver_id')).toMatchObject({ kind: 'many-to-one', target: users });
    expect(findRelationship(SCHEMA, users, 'profiles')).toMatchObject({ kind: 'one-to-many', toOne: true });
    expect(findRelationship(SCHEMA, users, 'messages', 'messages_receiver_fkey')).toMatchObject({ kind: 'one-to-many', toOne: false });
    expect(caught(() => findRelationship(SCHEMA, messages, 'users')).details).toMatchObject({ pgrst: 'PGRST201', status: 300 });
    expect(caught(() => findRelationship(SCHEMA, profiles, 'messages')).details).toMatchObject({ pgrst: 'PGRST200' });
  });
});

describe('keyset pages', () => {
  it('orders by the request then the key, refusing nullable columns, and compares rows', () => {
    const source = tableSource(messages);
    const order = keysetOrder(source, [{ field: { column: 'sender_id', path: [] }, descending: true }], ['id']);
    expect(order.map((t) => `${t.field.column}:${t.descending}`)).toEqual(['sender_id:true', 'id:false']);
    expect(caught(() => keysetOrder(source, [{ field: { column: 'body', path: [] }, descending: false }], ['id'])).message).toContain('"body" may be NULL');
    const builder = new Builder(SCHEMA, new Map());
    expect(keysetCondition(builder, 't0', order, ['7', '3'])).toBe('(("t0"."sender_id" < $1) OR ("t0"."sender_id" = $1 AND "t0"."id" > $2))');
    const same = keysetOrder(source, [], ['id']);
    expect(keysetCondition(builder, 't0', same, ['9'])).toBe('("t0"."id") > ($3)');
    expect(builder.params.values).toEqual(['7', '3', '9']);
  });

  it('round-trips a cursor and refuses one of another shape', () => {
    expect(decodeCursor(encodeCursor(['a', '1']), 2)).toEqual(['a', '1']);
    for (const bad of ['', 'bm9wZQ', encodeCursor(['a']), Buffer.from('[1,2]').toString('base64url')]) {
      expect(caught(() => decodeCursor(bad, 2)).details).toMatchObject({ pgrst: 'PGRST100' });
    }
  });
});

describe('TypeScript types', () => {
  it('render rows, inserts with optional defaults, relationships and enums', () => {
    const text = renderTypes([SCHEMA]);
    expect(text).toContain('export type Database = {');
    expect(text).toMatch(/messages: \{\n\s+Row: \{\n\s+id: number\n\s+sender_id: number\n\s+receiver_id: number\n\s+body: string \| null/);
    expect(text).toMatch(/Insert: \{\n\s+id: number\n\s+sender_id: number\n\s+receiver_id: number\n\s+body\?: string \| null/);
    expect(text).toContain('foreignKeyName: "messages_sender_fkey"');
    expect(text).toContain('isOneToOne: true'); // profiles.user_id is its key
    expect(text).toContain('mood: "happy" | "sad"');
  });
});
