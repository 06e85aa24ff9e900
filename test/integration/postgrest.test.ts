import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { PostgrestClient } from '@supabase/postgrest-js';
import { createClient } from '@supabase/supabase-js';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createApp } from '../../src/api/app.js';
import type { CreatedInstance } from '../../src/instances/manager.js';
import { createLogger } from '../../src/log/logger.js';
import { PROJECT_ROOT } from '../../src/config/settings.js';
import { adminToken, makeHome, query, type TestHome } from './helpers.js';

/**
 * Conformance of /database/{id}/rest/v1 with PostgREST, driven by the real @supabase/postgrest-js
 * client: each case asks a question through the client and the same question in SQL straight to
 * the instance, and the answers must be equal. The fixture follows PostgREST's API reference.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Db = PostgrestClient<any, { PostgrestVersion: '13' }, any>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Answer = { data: any; error: any; count: number | null; status: number };

interface Case {
  name: string;
  run: (db: Db) => PromiseLike<Answer>;
  /** SQL whose rows, as JSON, are the expected data (an array). */
  rows?: string;
  /** SQL whose one value is the expected data. */
  value?: string;
  /** Anything else to check (status, count, error). */
  check?: (answer: Answer) => void | Promise<void>;
}

let t: TestHome;
let created: CreatedInstance;
let server: Server;
let url: string;
let token: string;
let db: Db;

const sql = (text: string, params: unknown[] = []) => query(created.connectionString, text, params);
const sqlRows = async (text: string) => (await sql(`SELECT coalesce(json_agg(q), '[]'::json) AS j FROM (${text}) AS q`))[0]?.j;
const sqlValue = async (text: string) => (await sql(`SELECT to_json((${text})) AS j`))[0]?.j;

function errorIs(status: number, code: string, message?: RegExp): (a: Answer) => void {
  return (a) => {
    expect(a.status, JSON.stringify(a.error)).toBe(status);
    expect(a.error?.code).toBe(code);
    if (message) expect(a.error.message).toMatch(message);
  };
}

beforeAll(async () => {
  t = makeHome(23700);
  created = await t.manager.create({ name: 'pgrst', memory: '256m', cpus: 1 });
  await sql(readFileSync(join(import.meta.dirname, 'postgrest-fixture.sql'), 'utf8'));
  token = await adminToken(t);
  const app = createApp(t.services, createLogger({ consoleLevel: 'silent' }));
  await new Promise<void>((resolve) => {
    server = app.listen(0, '127.0.0.1', () => resolve());
  });
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}/database/${created.name}`;
  db = new PostgrestClient(`${url}/rest/v1`, { headers: { apikey: token, Authorization: `Bearer ${token}` } });
}, 120_000);

afterAll(async () => {
  server?.close();
  await t?.services.data.close();
  await t?.cleanup();
});

const READS: Case[] = [
  // -- select: columns, renames, casts, JSON paths
  { name: 'all columns', run: (d) => d.from('countries').select().order('id'), rows: 'SELECT * FROM countries ORDER BY id' },
  { name: 'some columns', run: (d) => d.from('countries').select('id,name').order('id'), rows: 'SELECT id, name FROM countries ORDER BY id' },
  { name: 'renamed column', run: (d) => d.from('countries').select('country:name').eq('id', 1), rows: 'SELECT name AS country FROM countries WHERE id = 1' },
  { name: 'cast to text', run: (d) => d.from('countries').select('id,population::text').lt('id', 3).order('id'), rows: 'SELECT id, population::text AS population FROM countries WHERE id < 3 ORDER BY id' },
  { name: 'renamed cast', run: (d) => d.from('films').select('n:rating::text').eq('id', 1), rows: "SELECT rating::text AS n FROM films WHERE id = 1" },
  { name: 'JSON path ->>', run: (d) => d.from('countries').select('id,data->>capital').order('id').limit(3), rows: "SELECT id, data->>'capital' AS capital FROM countries ORDER BY id LIMIT 3" },
  { name: 'JSON path -> nested', run: (d) => d.from('countries').select('code:data->currency->>code').eq('id', 3), rows: "SELECT data->'currency'->>'code' AS code FROM countries WHERE id = 3" },
  { name: 'JSON path as JSON', run: (d) => d.from('countries').select('data->currency').eq('id', 2), rows: "SELECT data->'currency' AS currency FROM countries WHERE id = 2" },
  { name: 'array element by index', run: (d) => d.from('countries').select('first:data->tags->0').eq('id', 1), rows: "SELECT data->'tags'->0 AS first FROM countries WHERE id = 1" },
  { name: 'a view', run: (d) => d.from('big_countries').select('name').order('name'), rows: 'SELECT name FROM big_countries ORDER BY name' },
  // -- filters
  { name: 'eq', run: (d) => d.from('cities').select('name').eq('country_id', 1).order('id'), rows: 'SELECT name FROM cities WHERE country_id = 1 ORDER BY id' },
  { name: 'neq', run: (d) => d.from('cities').select('id').neq('country_id', 1).order('id'), rows: 'SELECT id FROM cities WHERE country_id <> 1 ORDER BY id' },
  { name: 'gt', run: (d) => d.from('cities').select('id').gt('population', 2000000).order('id'), rows: 'SELECT id FROM cities WHERE population > 2000000 ORDER BY id' },
  { name: 'gte', run: (d) => d.from('cities').select('id').gte('population', 2100000).order('id'), rows: 'SELECT id FROM cities WHERE population >= 2100000 ORDER BY id' },
  { name: 'lt', run: (d) => d.from('cities').select('id').lt('population', 1000000).order('id'), rows: 'SELECT id FROM cities WHERE population < 1000000 ORDER BY id' },
  { name: 'lte', run: (d) => d.from('cities').select('id').lte('population', 520000).order('id'), rows: 'SELECT id FROM cities WHERE population <= 520000 ORDER BY id' },
  { name: 'like', run: (d) => d.from('cities').select('name').like('name', '%r%').order('id'), rows: "SELECT name FROM cities WHERE name LIKE '%r%' ORDER BY id" },
  { name: 'like with *', run: (d) => d.from('cities').select('name').like('name', 'M*').order('id'), rows: "SELECT name FROM cities WHERE name LIKE 'M%' ORDER BY id" },
  { name: 'ilike', run: (d) => d.from('cities').select('name').ilike('name', '%o%').order('id'), rows: "SELECT name FROM cities WHERE name ILIKE '%o%' ORDER BY id" },
  { name: 'match', run: (d) => d.from('cities').select('name').filter('name', 'match', '^[PL]').order('id'), rows: "SELECT name FROM cities WHERE name ~ '^[PL]' ORDER BY id" },
  { name: 'imatch', run: (d) => d.from('cities').select('name').filter('name', 'imatch', '^m').order('id'), rows: "SELECT name FROM cities WHERE name ~* '^m' ORDER BY id" },
  { name: 'in', run: (d) => d.from('cities').select('name').in('id', [1, 4, 6]).order('id'), rows: 'SELECT name FROM cities WHERE id IN (1, 4, 6) ORDER BY id' },
  { name: 'in with quoted values', run: (d) => d.from('cities').select('id').in('name', ['Paris', 'Lyon, France', 'Tokyo']).order('id'), rows: "SELECT id FROM cities WHERE name IN ('Paris', 'Tokyo') ORDER BY id" },
  { name: 'is null', run: (d) => d.from('cities').select('id').is('country_id', null), rows: 'SELECT id FROM cities WHERE country_id IS NULL' },
  { name: 'not is null', run: (d) => d.from('films').select('id').not('director_id', 'is', null).order('id'), rows: 'SELECT id FROM films WHERE director_id IS NOT NULL ORDER BY id' },
  { name: 'is true', run: (d) => d.from('todos').select('task').is('done', true), rows: 'SELECT task FROM todos WHERE done IS TRUE' },
  { name: 'isdistinct', run: (d) => d.from('films').select('id').filter('director_id', 'isdistinct', '1').order('id'), rows: 'SELECT id FROM films WHERE director_id IS DISTINCT FROM 1 ORDER BY id' },
  { name: 'not.eq', run: (d) => d.from('countries').select('id').not('continent', 'eq', 'Europe').order('id'), rows: "SELECT id FROM countries WHERE NOT (continent = 'Europe') ORDER BY id" },
  { name: 'not.in', run: (d) => d.from('cities').select('id').not('id', 'in', '(1,2,3)').order('id'), rows: 'SELECT id FROM cities WHERE id NOT IN (1, 2, 3) ORDER BY id' },
  { name: 'several filters are AND-ed', run: (d) => d.from('cities').select('id').eq('country_id', 1).gt('population', 600000).order('id'), rows: 'SELECT id FROM cities WHERE country_id = 1 AND population > 600000 ORDER BY id' },
  { name: 'match() of several columns', run: (d) => d.from('countries').select('id').match({ continent: 'Europe', iso2: 'DE' }), rows: "SELECT id FROM countries WHERE continent = 'Europe' AND iso2 = 'DE'" },
  { name: 'or', run: (d) => d.from('cities').select('id').or('id.eq.1,population.gt.10000000').order('id'), rows: 'SELECT id FROM cities WHERE id = 1 OR population > 10000000 ORDER BY id' },
  { name: 'or with and inside', run: (d) => d.from('films').select('id').or('year.lt.1952,and(director_id.eq.3,rating.gte.8.1)').order('id'), rows: 'SELECT id FROM films WHERE year < 1952 OR (director_id = 3 AND rating >= 8.1) ORDER BY id' },
  { name: 'or with in and quoted value', run: (d) => d.from('cities').select('id').or('id.in.(2,3),name.eq."Paris"').order('id'), rows: "SELECT id FROM cities WHERE id IN (2, 3) OR name = 'Paris' ORDER BY id" },
  { name: 'any modifier', run: (d) => d.from('cities').select('id').filter('name', 'like(any)', '{P*,T*}').order('id'), rows: "SELECT id FROM cities WHERE name LIKE ANY ('{P%,T%}') ORDER BY id" },
  { name: 'all modifier', run: (d) => d.from('cities').select('id').filter('name', 'ilike(all)', '{*o*,*n*}').order('id'), rows: "SELECT id FROM cities WHERE name ILIKE ALL ('{%o%,%n%}') ORDER BY id" },
  { name: 'eq(any)', run: (d) => d.from('cities').select('id').filter('id', 'eq(any)', '{2,5,9}').order('id'), rows: 'SELECT id FROM cities WHERE id = ANY (ARRAY[2, 5, 9]) ORDER BY id' },
  { name: 'filter on a JSON path', run: (d) => d.from('countries').select('id').eq('data->>capital', 'Tokyo'), rows: "SELECT id FROM countries WHERE data->>'capital' = 'Tokyo'" },
  { name: 'filter on a nested JSON path', run: (d) => d.from('countries').select('id').eq('data->currency->>code', 'EUR').order('id'), rows: "SELECT id FROM countries WHERE data->'currency'->>'code' = 'EUR' ORDER BY id" },
  { name: 'JSON path compared as number', run: (d) => d.from('countries').select('id').gt('data->rank', 5).order('id'), rows: "SELECT id FROM countries WHERE data->'rank' > '5' ORDER BY id" },
  { name: 'contains (array)', run: (d) => d.from('countries').select('id').contains('languages', ['fr']).order('id'), rows: "SELECT id FROM countries WHERE languages @> '{fr}' ORDER BY id" },
  { name: 'contained by (array)', run: (d) => d.from('countries').select('id').containedBy('languages', ['en', 'fr', 'de']).order('id'), rows: "SELECT id FROM countries WHERE languages <@ '{en,fr,de}' ORDER BY id" },
  { name: 'overlaps (array)', run: (d) => d.from('films').select('id').overlaps('tags', ['war', 'romance']).order('id'), rows: "SELECT id FROM films WHERE tags && '{war,romance}' ORDER BY id" },
  { name: 'contains (jsonb)', run: (d) => d.from('countries').select('id').contains('data', { currency: { code: 'EUR' } }).order('id'), rows: `SELECT id FROM countries WHERE data @> '{"currency": {"code": "EUR"}}' ORDER BY id` },
  { name: 'range strictly left of', run: (d) => d.from('films').select('id').rangeLt('running', '[100,300)').order('id'), rows: "SELECT id FROM films WHERE running << '[100,300)' ORDER BY id" },
  { name: 'range strictly right of', run: (d) => d.from('films').select('id').rangeGt('running', '[-10,0)').order('id'), rows: "SELECT id FROM films WHERE running >> '[-10,0)' ORDER BY id" },
  { name: 'range does not extend right', run: (d) => d.from('films').select('id').rangeLte('running', '[1,100)').order('id'), rows: "SELECT id FROM films WHERE running &< '[1,100)' ORDER BY id" },
  { name: 'range does not extend left', run: (d) => d.from('films').select('id').rangeGte('running', '[1,10)').order('id'), rows: "SELECT id FROM films WHERE running &> '[1,10)' ORDER BY id" },
  { name: 'range adjacent', run: (d) => d.from('films').select('id').rangeAdjacent('running', '[88,100)').order('id'), rows: "SELECT id FROM films WHERE running -|- '[88,100)' ORDER BY id" },
  { name: 'range overlaps', run: (d) => d.from('films').select('id').overlaps('running', '[150,160)').order('id'), rows: "SELECT id FROM films WHERE running && '[150,160)' ORDER BY id" },
  { name: 'full-text search (tsvector)', run: (d) => d.from('films').select('id').textSearch('summary_tsv', 'samurai & bandits'), rows: "SELECT id FROM films WHERE summary_tsv @@ to_tsquery('samurai & bandits')" },
  { name: 'plain full-text search with config', run: (d) => d.from('films').select('id').textSearch('summary_tsv', 'warlord kingdom', { type: 'plain', config: 'english' }), rows: "SELECT id FROM films WHERE summary_tsv @@ plainto_tsquery('english', 'warlord kingdom')" },
  { name: 'phrase full-text search', run: (d) => d.from('films').select('id').textSearch('summary_tsv', 'four witnesses', { type: 'phrase' }), rows: "SELECT id FROM films WHERE summary_tsv @@ phraseto_tsquery('four witnesses')" },
  { name: 'websearch full-text search on text', run: (d) => d.from('films').select('id').textSearch('summary', '"of berlin" or desert', { type: 'websearch', config: 'english' }).order('id'), rows: "SELECT id FROM films WHERE to_tsvector('english', summary) @@ websearch_to_tsquery('english', '\"of berlin\" or desert') ORDER BY id" },
  // -- order, limit, range
  { name: 'order desc', run: (d) => d.from('cities').select('id').order('population', { ascending: false }).limit(3), rows: 'SELECT id FROM cities ORDER BY population DESC LIMIT 3' },
  { name: 'order nulls first', run: (d) => d.from('films').select('id').order('year', { nullsFirst: true }), rows: 'SELECT id FROM films ORDER BY year NULLS FIRST' },
  { name: 'order desc nulls last', run: (d) => d.from('films').select('id').order('year', { ascending: false, nullsFirst: false }), rows: 'SELECT id FROM films ORDER BY year DESC NULLS LAST' },
  { name: 'order by two columns', run: (d) => d.from('films').select('id').order('director_id').order('year', { ascending: false }), rows: 'SELECT id FROM films ORDER BY director_id, year DESC' },
  { name: 'order by a JSON path', run: (d) => d.from('countries').select('id').order('data->>capital').limit(3), rows: "SELECT id FROM countries ORDER BY data->>'capital' LIMIT 3" },
  { name: 'limit', run: (d) => d.from('cities').select('id').order('id').limit(2), rows: 'SELECT id FROM cities ORDER BY id LIMIT 2' },
  { name: 'range', run: (d) => d.from('cities').select('id').order('id').range(3, 5), rows: 'SELECT id FROM cities ORDER BY id OFFSET 3 LIMIT 3' },
  // -- embedding
  { name: 'many-to-one', run: (d) => d.from('cities').select('name,countries(name)').order('id').limit(3), rows: 'SELECT c.name, (SELECT row_to_json(x) FROM (SELECT name FROM countries WHERE id = c.country_id) x) AS countries FROM cities c ORDER BY c.id LIMIT 3' },
  { name: 'many-to-one, none there', run: (d) => d.from('cities').select('name,countries(name)').eq('id', 11), rows: "SELECT 'Nowhere' AS name, NULL::json AS countries" },
  { name: 'one-to-many', run: (d) => d.from('countries').select('name,cities(name)').eq('id', 2), rows: "SELECT 'Germany' AS name, (SELECT json_agg(x) FROM (SELECT name FROM cities WHERE country_id = 2) x) AS cities" },
  { name: 'one-to-many, empty', run: (d) => d.from('countries').select('name,cities(id)').eq('id', 6), rows: "SELECT 'Atlantis' AS name, '[]'::json AS cities" },
  { name: 'many-to-many through a join table', run: (d) => d.from('films').select('title,actors(first_name)').eq('id', 1), rows: "SELECT 'Seven Samurai' AS title, (SELECT json_agg(x) FROM (SELECT first_name FROM actors WHERE id IN (SELECT actor_id FROM roles WHERE film_id = 1)) x) AS actors" },
  { name: 'embedded rename and all columns', run: (d) => d.from('films').select('title,director:directors(*)').eq('id', 4), rows: "SELECT 'Cleo from 5 to 7' AS title, (SELECT row_to_json(d) FROM directors d WHERE id = 2) AS director" },
  { name: 'nested embedding', run: (d) => d.from('directors').select('last_name,films(title,roles(character))').eq('id', 2), rows: "SELECT 'Varda' AS last_name, json_build_array(json_build_object('title', 'Cleo from 5 to 7', 'roles', json_build_array(json_build_object('character', 'Cleo')))) AS films" },
  { name: 'embedded filter', run: (d) => d.from('countries').select('name,cities(name)').eq('id', 1).gt('cities.population', 800000), rows: "SELECT 'France' AS name, (SELECT json_agg(x) FROM (SELECT name FROM cities WHERE country_id = 1 AND population > 800000) x) AS cities" },
  { name: 'embedded order and limit', run: (d) => d.from('countries').select('name,cities(name)').eq('id', 1).order('population', { referencedTable: 'cities', ascending: false }).limit(2, { referencedTable: 'cities' }), rows: "SELECT 'France' AS name, (SELECT json_agg(x) FROM (SELECT name FROM cities WHERE country_id = 1 ORDER BY population DESC LIMIT 2) x) AS cities" },
  { name: 'embedded or', run: (d) => d.from('countries').select('id,cities(id)').eq('id', 1).or('id.eq.1,id.eq.3', { referencedTable: 'cities' }), rows: "SELECT 1 AS id, json_build_array(json_build_object('id', 1), json_build_object('id', 3)) AS cities" },
  { name: '!inner filters the parents', run: (d) => d.from('countries').select('name,cities!inner(name)').eq('cities.name', 'Osaka'), rows: "SELECT 'Japan' AS name, json_build_array(json_build_object('name', 'Osaka')) AS cities" },
  { name: 'embedded is not null filters the parents', run: (d) => d.from('films').select('id,directors(id)').not('directors', 'is', null).order('id'), rows: "SELECT f.id, json_build_object('id', f.director_id) AS directors FROM films f WHERE director_id IS NOT NULL ORDER BY f.id" },
  { name: 'disambiguation by foreign key column', run: (d) => d.from('messages').select('content,sender:users!sender_id(username)').eq('id', 2), rows: "SELECT 'hi ada' AS content, json_build_object('username', 'grace') AS sender" },
  { name: 'disambiguation by constraint name', run: (d) => d.from('messages').select('id,receiver:users!messages_receiver_id_fkey(username)').eq('id', 1), rows: "SELECT 1 AS id, json_build_object('username', 'grace') AS receiver" },
  { name: 'reverse embedding with a hint', run: (d) => d.from('users').select('username,messages!sender_id(id)').eq('id', 1), rows: "SELECT 'ada' AS username, json_build_array(json_build_object('id', 1), json_build_object('id', 3)) AS messages" },
  { name: 'one-to-one is an object', run: (d) => d.from('users').select('username,profiles(bio)').order('id'), rows: "SELECT u.username, (SELECT row_to_json(p) FROM (SELECT bio FROM profiles WHERE user_id = u.id) p) AS profiles FROM users u ORDER BY u.id" },
  { name: 'embedding by the foreign key column name', run: (d) => d.from('cities').select('id,country_id(iso2)').eq('id', 6), rows: "SELECT 6 AS id, json_build_object('iso2', 'JP') AS country_id" },
  { name: 'spread of a to-one embed', run: (d) => d.from('films').select('title,...directors(last_name)').eq('id', 5), rows: "SELECT 'Wings of Desire' AS title, 'Wenders' AS last_name" },
  // -- counts, head, single, csv
  {
    name: 'count=exact with a page',
    run: (d) => d.from('cities').select('id', { count: 'exact' }).order('id').range(0, 1),
    rows: 'SELECT id FROM cities ORDER BY id LIMIT 2',
    check: async (a) => {
      expect(a.count).toBe(11);
      expect(a.status).toBe(206);
    },
  },
  { name: 'count=exact with head', run: (d) => d.from('cities').select('*', { count: 'exact', head: true }).eq('country_id', 1), check: (a) => expect([a.count, a.data, a.status]).toEqual([3, null, 200]) },
  { name: 'count=planned', run: (d) => d.from('cities').select('id', { count: 'planned', head: true }), check: (a) => expect(a.count).toBeGreaterThan(0) },
  { name: 'count=estimated below max rows is exact', run: (d) => d.from('films').select('id', { count: 'estimated', head: true }), check: (a) => expect(a.count).toBe(7) },
  { name: 'single', run: (d) => d.from('countries').select('name,iso2').eq('id', 3).single(), value: "SELECT json_build_object('name', 'Japan', 'iso2', 'JP')" },
  { name: 'single with more rows is 406', run: (d) => d.from('countries').select('name').single(), check: errorIs(406, 'PGRST116') },
  { name: 'maybeSingle with none', run: (d) => d.from('countries').select('name').eq('id', 99).maybeSingle(), check: (a) => expect([a.data, a.error]).toEqual([null, null]) },
  { name: 'csv', run: (d) => d.from('cities').select('id,name').lt('id', 3).order('id').csv() as never, check: (a) => expect(a.data).toBe('id,name\n1,Paris\n2,Lyon') },
  // -- functions
  { name: 'rpc scalar over POST', run: (d) => d.rpc('add_them', { a: 1, b: 2 }), value: 'SELECT add_them(1, 2)' },
  { name: 'rpc scalar over GET', run: (d) => d.rpc('add_them', { a: 40, b: 2 }, { get: true }), value: 'SELECT 42' },
  { name: 'rpc returning a set of rows, filtered', run: (d) => d.rpc('films_of_year', { y: 1954 }).select('title'), rows: "SELECT title FROM films_of_year(1954)" },
  { name: 'rpc with a default argument left out', run: (d) => d.rpc('films_after').select('id').order('id'), rows: 'SELECT id FROM films WHERE year > 1980 ORDER BY id' },
  { name: 'rpc rows with filters and order', run: (d) => d.rpc('films_after', { y: 1900 }).select('id').gt('rating', 8.1).order('rating', { ascending: false }).order('id'), rows: 'SELECT id FROM films WHERE year > 1900 AND rating > 8.1 ORDER BY rating DESC, id' },
  { name: 'rpc rows embed', run: (d) => d.rpc('films_of_year', { y: 1985 }).select('title,directors(last_name)'), rows: "SELECT 'Ran' AS title, json_build_object('last_name', 'Kurosawa') AS directors" },
  { name: 'rpc returning a set of scalars', run: (d) => d.rpc('film_titles'), value: 'SELECT json_agg(t) FROM film_titles() t' },
  { name: 'rpc returning TABLE', run: (d) => d.rpc('city_names', { prefix: 'M' }), rows: "SELECT * FROM city_names('M')" },
  { name: 'rpc with a json argument', run: (d) => d.rpc('echo', { payload: { a: [1, 2], b: null } }), value: `SELECT '{"a": [1, 2], "b": null}'::jsonb` },
  { name: 'rpc bigint', run: (d) => d.rpc('film_count'), value: 'SELECT count(*) FROM films' },
  { name: 'rpc of one unnamed jsonb parameter takes the whole object', run: (d) => d.rpc('store_payload', { id: 7, tags: ['a'] }), value: `SELECT store_payload('{"id": 7, "tags": ["a"]}')` },
  { name: 'rpc of one unnamed json parameter takes an array body', run: (d) => d.rpc('count_entries', [1, 2, 3] as never), value: `SELECT count_entries('[1, 2, 3]')` },
  { name: 'rpc overloads: named parameters that fit win', run: (d) => d.rpc('greet', { name: 'ada' }), value: "SELECT 'hello ada'" },
  { name: 'rpc overloads: the unnamed json one takes what fits no other', run: (d) => d.rpc('greet', { x: 'y' }), value: "SELECT 'payload y'" },
  { name: 'rpc with an array body and no json parameter is PGRST102', run: (d) => d.rpc('add_them', [1, 2] as never), check: errorIs(400, 'PGRST102') },
  { name: 'rpc cannot give unnamed parameters by name: PGRST202', run: (d) => d.rpc('two_unnamed', { '': 1 }), check: errorIs(404, 'PGRST202') },
  { name: 'rpc void', run: (d) => d.rpc('touch_nothing'), check: (a) => expect([a.status, a.data, a.error]).toEqual([204, null, null]) },
  { name: 'rpc unknown function is PGRST202', run: (d) => d.rpc('no_such_fn'), check: errorIs(404, 'PGRST202') },
  { name: 'rpc with a wrong argument name is PGRST202', run: (d) => d.rpc('add_them', { a: 1, c: 2 }), check: errorIs(404, 'PGRST202') },
  { name: 'rpc raising an exception', run: (d) => d.rpc('fail_loudly'), check: (a) => expect([a.status, a.error]).toEqual([400, { code: 'P0001', message: 'no way', details: 'a detail', hint: 'a hint' }]) },
  { name: 'volatile rpc over GET is refused read-only', run: (d) => d.rpc('add_todo', { task: 'x' }, { get: true }), check: errorIs(405, '25006') },
  // -- errors
  { name: 'unknown table is PGRST205', run: (d) => d.from('nope').select(), check: errorIs(404, 'PGRST205') },
  { name: 'unknown column is 42703', run: (d) => d.from('countries').select('nope'), check: errorIs(400, '42703') },
  { name: 'unknown relationship is PGRST200', run: (d) => d.from('countries').select('*,films(*)'), check: errorIs(400, 'PGRST200') },
  { name: 'ambiguous relationship is PGRST201', run: (d) => d.from('messages').select('*,users(*)'), check: errorIs(300, 'PGRST201') },
  { name: 'a value of the wrong type is 22P02', run: (d) => d.from('countries').select().eq('id', 'abc'), check: errorIs(400, '22P02') },
  { name: 'an unknown operator is PGRST100', run: (d) => d.from('countries').select().filter('id', 'nope', '1'), check: errorIs(400, 'PGRST100') },
];

describe('the PostgREST-compatible endpoint, read by @supabase/postgrest-js', () => {
  it.each(READS)('$name', async (c) => {
    const answer = await c.run(db);
    if (c.rows !== undefined || c.value !== undefined) {
      expect(answer.error, JSON.stringify(answer.error)).toBeNull();
      expect(answer.data).toEqual(c.rows !== undefined ? await sqlRows(c.rows) : await sqlValue(c.value as string));
    }
    await c.check?.(answer);
  });

  it('not.or negates a whole tree', async () => {
    const res = await fetch(`${url}/rest/v1/cities?select=id&not.or=(id.lt.3,id.gt.9)&order=id`, { headers: { authorization: `Bearer ${token}` } });
    expect(await res.json()).toEqual(await sqlRows('SELECT id FROM cities WHERE NOT (id < 3 OR id > 9) ORDER BY id'));
  });

  it('answers Range headers with Content-Range, and 416 past the end', async () => {
    const headers = { authorization: `Bearer ${token}`, 'Range-Unit': 'items', Range: '2-4', Prefer: 'count=exact' };
    const res = await fetch(`${url}/rest/v1/cities?select=id&order=id`, { headers });
    expect([res.status, res.headers.get('content-range')]).toEqual([206, '2-4/11']);
    expect(await res.json()).toEqual([{ id: 3 }, { id: 4 }, { id: 5 }]);
    const past = await fetch(`${url}/rest/v1/cities?select=id&offset=20`, { headers: { authorization: `Bearer ${token}`, Prefer: 'count=exact' } });
    expect(past.status).toBe(416);
    expect((await past.json()).code).toBe('PGRST103');
  });
});

describe('writes through @supabase/postgrest-js', () => {
  const todos = () => sqlRows('SELECT id, task, done, priority FROM todos ORDER BY id');

  it('inserts one row and answers nothing by default (return=minimal)', async () => {
    const a = await db.from('todos').insert({ task: 'plan' });
    expect([a.status, a.data, a.error]).toEqual([201, null, null]);
    expect(await sqlRows("SELECT task, done, priority FROM todos WHERE task = 'plan'")).toEqual([{ task: 'plan', done: false, priority: 3 }]);
  });

  it('inserts and returns the rows with select(), renamed and embedded like a read', async () => {
    const a = await db.from('cities').insert({ id: 100, name: 'Kyoto', country_id: 3 }).select('name,nation:countries(name)').single();
    expect(a.error).toBeNull();
    expect(a.data).toEqual({ name: 'Kyoto', nation: { name: 'Japan' } });
    await sql('DELETE FROM cities WHERE id = 100');
  });

  it('inserts in bulk: keys a row leaves out are NULL (defaultToNull), or the default with missing=default', async () => {
    const a = await db.from('todos').insert([{ task: 'a1', priority: 9 }, { task: 'a2' }]).select('task,priority');
    expect(a.data).toEqual([{ task: 'a1', priority: 9 }, { task: 'a2', priority: null }]);
    const b = await db.from('todos').insert([{ task: 'b1', priority: 9 }, { task: 'b2' }], { defaultToNull: false }).select('task,priority');
    expect(b.data).toEqual([{ task: 'b1', priority: 9 }, { task: 'b2', priority: 3 }]);
  });

  it('counts what it wrote with count=exact', async () => {
    const a = await db.from('todos').insert([{ task: 'c1' }, { task: 'c2' }, { task: 'c3' }], { count: 'exact' });
    expect([a.status, a.count]).toEqual([201, 3]);
  });

  it('upserts with merge-duplicates on the primary key, and on_conflict columns', async () => {
    const a = await db.from('items').upsert([{ key1: 1, key2: 'a', value: 'ONE-A' }, { key1: 3, key2: 'c', value: 'three-c' }]).select('key1,key2,value');
    expect(a.error).toBeNull();
    expect(await sqlRows('SELECT key1, key2, value FROM items ORDER BY key1, key2')).toEqual([
      { key1: 1, key2: 'a', value: 'ONE-A' },
      { key1: 1, key2: 'b', value: 'one-b' },
      { key1: 2, key2: 'a', value: 'two-a' },
      { key1: 3, key2: 'c', value: 'three-c' },
    ]);
    const b = await db.from('users').upsert({ id: 1, username: 'ada', status: 'AWAY' }, { onConflict: 'username' }).select('id,username,status');
    expect(b.data).toEqual([{ id: 1, username: 'ada', status: 'AWAY' }]);
  });

  it('ignores duplicates with ignoreDuplicates', async () => {
    const a = await db.from('items').upsert({ key1: 2, key2: 'a', value: 'changed' }, { ignoreDuplicates: true }).select();
    expect([a.error, a.data]).toEqual([null, []]);
    expect(await sqlValue("SELECT value FROM items WHERE key1 = 2 AND key2 = 'a'")).toBe('two-a');
  });

  it('answers 409 with the server message for a duplicate key', async () => {
    const a = await db.from('users').insert({ id: 1, username: 'again' });
    expect(a.status).toBe(409);
    expect(a.error).toMatchObject({ code: '23505', details: 'Key (id)=(1) already exists.' });
  });

  it('refuses a column the table lacks with PGRST204, writing nothing', async () => {
    const a = await db.from('todos').insert({ task: 'x', nope: 1 });
    expect([a.status, a.error?.code]).toEqual([400, 'PGRST204']);
    expect(await sqlValue("SELECT count(*) FROM todos WHERE task = 'x'")).toBe(0);
  });

  it('updates the filtered rows and returns them', async () => {
    const a = await db.from('todos').update({ done: true }).eq('task', 'write').select('task,done');
    expect(a.data).toEqual([{ task: 'write', done: true }]);
    expect(await sqlValue("SELECT done FROM todos WHERE task = 'write'")).toBe(true);
  });

  it('refuses an update or a delete without a filter, like Supabase (21000), changing nothing', async () => {
    const before = await todos();
    const u = await db.from('todos').update({ done: false });
    expect([u.status, u.error?.code, u.error?.message]).toEqual([400, '21000', 'UPDATE requires a WHERE clause']);
    const d = await db.from('todos').delete();
    expect([d.status, d.error?.code]).toEqual([400, '21000']);
    expect(await todos()).toEqual(before);
  });

  it('bounds a write with max-affected: more rows than allowed roll back (PGRST124)', async () => {
    const before = await todos();
    const a = await db.from('todos').update({ priority: 0 }).gte('id', 1).maxAffected(2);
    expect([a.status, a.error?.code]).toEqual([400, 'PGRST124']);
    expect(await todos()).toEqual(before);
    const b = await db.from('todos').update({ priority: 5 }).in('task', ['c1', 'c2']).maxAffected(2);
    expect(b.error).toBeNull();
    expect(await sqlValue("SELECT array_agg(priority) FROM todos WHERE task IN ('c1', 'c2')")).toEqual([5, 5]);
  });

  it('rolls back with tx=rollback but still answers the rows', async () => {
    const a = await db.from('todos').delete().eq('task', 'ship').select('task').rollback();
    expect(a.data).toEqual([{ task: 'ship' }]);
    expect(await sqlValue("SELECT count(*) FROM todos WHERE task = 'ship'")).toBe(1);
  });

  it('deletes the filtered rows', async () => {
    const a = await db.from('todos').delete().like('task', 'c*').select('task');
    expect((a.data ?? []).map((r: { task: string }) => r.task).sort()).toEqual(['c1', 'c2', 'c3']);
    expect(await sqlValue("SELECT count(*) FROM todos WHERE task LIKE 'c%'")).toBe(0);
  });

  it('a single() write that touches several rows is 406 and rolls back', async () => {
    const a = await db.from('todos').update({ priority: 7 }).like('task', 'a*').select().single();
    expect([a.status, a.error?.code]).toEqual([406, 'PGRST116']);
    expect(await sqlValue("SELECT count(*) FROM todos WHERE priority = 7")).toBe(0);
  });

  it('a volatile function call over POST writes', async () => {
    const a = await db.rpc('add_todo', { task: 'from rpc' }).select('task,done');
    expect(a.data).toEqual({ task: 'from rpc', done: false });
    expect(await sqlValue("SELECT count(*) FROM todos WHERE task = 'from rpc'")).toBe(1);
  });
});

describe('the protocol over plain HTTP', () => {
  const call = (method: string, path: string, headers: Record<string, string> = {}, body?: unknown) =>
    fetch(`${url}/rest/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it('PUT inserts, then replaces, one row named by its whole key', async () => {
    const made = await call('PUT', '/items?key1=eq.5&key2=eq.z', { Prefer: 'return=representation' }, { key1: 5, key2: 'z', value: 'first' });
    expect([made.status, await made.json()]).toEqual([200, [{ key1: 5, key2: 'z', value: 'first' }]]);
    const replaced = await call('PUT', '/items?key1=eq.5&key2=eq.z', {}, { key1: 5, key2: 'z', value: 'second' });
    expect(replaced.status).toBe(204);
    expect(await sqlValue("SELECT value FROM items WHERE key1 = 5 AND key2 = 'z'")).toBe('second');
    const wrong = await call('PUT', '/items?key1=eq.5&key2=eq.z', {}, { key1: 6, key2: 'z', value: 'third' });
    expect([wrong.status, (await wrong.json()).code]).toEqual([400, 'PGRST115']);
    const partial = await call('PUT', '/items?key1=eq.5', {}, { key1: 5, key2: 'z', value: 'x' });
    expect([partial.status, (await partial.json()).code]).toEqual([405, 'PGRST105']);
  });

  it('answers return=headers-only with a Location of the new row', async () => {
    const res = await call('POST', '/todos', { Prefer: 'return=headers-only' }, { id: 500, task: 'located' });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe('/todos?id=eq.500');
    expect(await res.text()).toBe('');
  });

  it('strips nulls when asked (Accept: application/vnd.pgrst.array+json;nulls=stripped)', async () => {
    const res = await call('GET', '/films?select=id,director_id,year&id=eq.7', { Accept: 'application/vnd.pgrst.array+json;nulls=stripped' });
    expect(await res.json()).toEqual([{ id: 7 }]);
  });

  it('refuses a media type it cannot produce with 406 PGRST107', async () => {
    const res = await call('GET', '/films', { Accept: 'application/xml' });
    expect([res.status, (await res.json()).code]).toEqual([406, 'PGRST107']);
  });

  it('reads another schema with Accept-Profile and refuses the system schemas', async () => {
    await sql('CREATE SCHEMA IF NOT EXISTS api; CREATE TABLE IF NOT EXISTS api.notes (id int PRIMARY KEY, body text); INSERT INTO api.notes VALUES (1, $$in api$$) ON CONFLICT DO NOTHING');
    const res = await call('GET', '/notes', { 'Accept-Profile': 'api' });
    expect(await res.json()).toEqual([{ id: 1, body: 'in api' }]);
    const refused = await call('GET', '/pg_class', { 'Accept-Profile': 'pg_catalog' });
    expect([refused.status, (await refused.json()).code]).toEqual([406, 'PGRST106']);
  });

  it('keeps answering when a table changes shape under its prepared statements, and after SQL of a user reset the session', async () => {
    const read = async () => {
      const res = await call('GET', '/items?select=*&key1=eq.1&order=key2');
      expect(res.status).toBe(200);
      return res.json();
    };
    expect((await read())[0]).not.toHaveProperty('extra');
    await sql('ALTER TABLE items ADD COLUMN extra int DEFAULT 7');
    expect((await read())[0]).toMatchObject({ key1: 1, extra: 7 });
    for (let i = 0; i < 5; i++) {
      // SQL through the data API ends with DISCARD ALL, which drops the connection's prepared statements.
      await t.services.data.query(created.name, { sql: 'SELECT 1' });
      expect((await read()).length).toBe(2);
    }
    await sql('ALTER TABLE items DROP COLUMN extra');
    expect((await read())[0]).not.toHaveProperty('extra');
  });

  it('answers HEAD with the headers of the GET and no body', async () => {
    const res = await call('HEAD', '/cities?select=id', { Prefer: 'count=exact' });
    expect([res.status, res.headers.get('content-range')]).toEqual([200, '0-10/11']);
    expect(await res.text()).toBe('');
  });

  it('speaks PostgREST errors for a bad token and dbaas permissions: a viewer reads but cannot write', async () => {
    const apikeyOnly = await fetch(`${url}/rest/v1/cities?id=eq.1&select=id`, { headers: { apikey: token } });
    expect([apikeyOnly.status, await apikeyOnly.json()]).toEqual([200, [{ id: 1 }]]);
    const bad = await fetch(`${url}/rest/v1/cities`, { headers: { authorization: 'Bearer dbaas_tok_0000000000_' + 'A'.repeat(40) } });
    expect([bad.status, (await bad.json()).code]).toEqual([401, 'PGRST301']);
    const viewer = (await t.services.tokens.create({ name: 'pgrst-viewer', role: 'viewer' })).token;
    const asViewer = new PostgrestClient(`${url}/rest/v1`, { headers: { apikey: viewer, Authorization: `Bearer ${viewer}` } });
    expect((await asViewer.from('cities').select('id').eq('id', 1)).data).toEqual([{ id: 1 }]);
    const refused = await asViewer.from('todos').insert({ task: 'viewer' });
    expect([refused.status, refused.error?.code]).toEqual([403, '42501']);
    expect(refused.error?.hint).toContain('data:write');
    const other = (await t.services.tokens.create({ name: 'pgrst-other', role: 'owner', project: 'elsewhere' })).token;
    const hidden = await fetch(`${url}/rest/v1/cities`, { headers: { authorization: `Bearer ${other}` } });
    expect(hidden.status).toBe(404);
  });

  it('describes the schema at its root, for postgrest-js getOpenApiSpec()', async () => {
    const { data, error } = await db.getOpenApiSpec();
    expect(error).toBeNull();
    const spec = data as unknown as { swagger: string; paths: Record<string, Record<string, unknown>>; definitions: Record<string, { required?: string[]; properties: Record<string, unknown> }> };
    expect(spec.swagger).toBe('2.0');
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/', '/countries', '/big_countries', '/rpc/add_them', '/rpc/films_of_year']));
    expect(spec.paths['/big_countries']).not.toHaveProperty('post'); // a view: read only here
    expect(spec.definitions.countries?.required).toEqual(['id', 'name']);
    expect(spec.definitions.countries?.properties).toMatchObject({
      id: { type: 'integer', format: 'integer', description: expect.stringContaining('Primary Key') },
      population: { type: 'integer', format: 'bigint' },
      data: { format: 'jsonb' },
      languages: { type: 'array', items: { type: 'string' }, format: 'text[]' },
    });
    const other = await fetch(`${url}/rest/v1/`, { headers: { authorization: `Bearer ${token}`, 'Accept-Profile': 'pg_catalog' } });
    expect([other.status, (await other.json()).code]).toEqual([406, 'PGRST106']);
  });

  it('works with supabase-js createClient(url, token) unchanged', async () => {
    // Node 20 has no WebSocket of its own for supabase-js' realtime client: ws is the documented transport.
    const supabase = createClient(url, token, { auth: { persistSession: false, autoRefreshToken: false }, realtime: { transport: WebSocket as never } });
    const { data, error } = await supabase.from('countries').select('name, cities(name)').eq('iso2', 'CH');
    expect(error).toBeNull();
    expect(data).toEqual([{ name: 'Switzerland', cities: [{ name: 'Zurich' }] }]);
    const sum = await supabase.rpc('add_them', { a: 2, b: 3 });
    expect(sum.data).toBe(5);
  });
});

describe('keyset pages on a table of a million rows', () => {
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}`, ...headers } });
  const ids = async (res: Response) => ((await res.json()) as Array<{ id: number }>).map((r) => r.id);
  const range = (from: number, to: number, step = 1) => Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => from + i * step);

  beforeAll(async () => {
    await sql(`CREATE TABLE events (id bigint PRIMARY KEY, kind int NOT NULL, at timestamptz NOT NULL, note text);
               INSERT INTO events SELECT g, g % 7, timestamptz '2026-01-01' + g * interval '1 second', NULL FROM generate_series(1, 1000000) g;
               CREATE INDEX events_kind_at ON events (kind, at DESC, id);
               ANALYZE events`);
  }, 120_000);

  it('walks from the first page by cursor, with Next-Cursor and a Link to the next page', async () => {
    const first = await get('/rest/v1/events?select=id&order=id&limit=1000&after=');
    expect(first.status).toBe(200);
    const cursor = first.headers.get('next-cursor') as string;
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(first.headers.get('link')).toBe(`</database/${created.name}/rest/v1/events?select=id&order=id&limit=1000&after=${cursor}>; rel="next"`);
    expect(await ids(first)).toEqual(range(1, 1000));
    const second = await get(`/rest/v1/events?select=id&order=id&limit=1000&after=${cursor}`);
    expect(await ids(second)).toEqual(range(1001, 2000));
  });

  it('reaches the far end as cheaply in the other direction, and says when there is nothing after', async () => {
    const last = await get('/rest/v1/events?select=id&order=id.desc&limit=100&after=');
    expect(await ids(last)).toEqual(range(1_000_000, 999_901, -1));
    const before = await get(`/rest/v1/events?select=id&order=id.desc&limit=100&after=${last.headers.get('next-cursor')}`);
    expect(await ids(before)).toEqual(range(999_900, 999_801, -1));
    const tail = await get(`/rest/v1/events?select=id&id=gt.999995&order=id&limit=100&after=`);
    expect(await ids(tail)).toEqual(range(999_996, 1_000_000));
    expect(tail.headers.get('next-cursor')).toBeNull();
  });

  it('pages a filtered, mixed-direction order exactly as OFFSET would', async () => {
    const path = '/rest/v1/events?select=id,at&kind=eq.3&order=at.desc&limit=50';
    const one = await get(`${path}&after=`);
    const two = await get(`${path}&after=${one.headers.get('next-cursor')}`);
    expect(await two.json()).toEqual(await sqlRows('SELECT id, at FROM events WHERE kind = 3 ORDER BY at DESC, id LIMIT 50 OFFSET 50'));
  });

  it('pages the row routes too, with next in the body', async () => {
    const call = async (query: string) => (await get(`/tables/events/rows?select=id&order=id.desc&limit=500${query}`)).json();
    const first = await call('&after=');
    expect(first.rows.map((r: { id: number }) => r.id)).toEqual(range(1_000_000, 999_501, -1));
    expect(Object.keys(first.rows[0])).toEqual(['id']); // the key column that carried the cursor is gone
    const second = await call(`&after=${first.next}`);
    expect(second.rows.map((r: { id: number }) => r.id)).toEqual(range(999_500, 999_001, -1));
    expect(second.next).toEqual(expect.any(String));
  });

  it('refuses a cursor it did not make, an order on a nullable column and an offset, with 400', async () => {
    const bad = await get('/rest/v1/events?order=id&after=bm9wZQ');
    expect([bad.status, (await bad.json()).code]).toEqual([400, 'PGRST100']);
    const nullable = await get('/rest/v1/events?order=note&after=');
    expect([nullable.status, (await nullable.json()).message]).toEqual([400, expect.stringContaining('"note" may be NULL')]);
    const offset = await get('/rest/v1/events?order=id&offset=5&after=');
    expect(offset.status).toBe(400);
    const rows = await get('/tables/events/rows?order=note&after=');
    expect([rows.status, (await rows.json()).error.code]).toEqual([422, 'VALIDATION_FAILED']);
  });
});

describe('generated TypeScript types', () => {
  it('describe the schema for supabase-js: a typed client compiles, and a wrong use of a column does not', async () => {
    await sql(`CREATE TYPE mood AS ENUM ('happy', 'sad'); ALTER TABLE users ADD COLUMN mood mood`);
    const res = await fetch(`${url}/types.ts`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const types = await res.text();
    expect(types).toContain('export type Database = {');
    expect(types).toMatch(/mood: "happy" \| "sad"/);
    // A program of the kind an application writes, compiled by TypeScript against the real supabase-js types.
    const dir = mkdtempSync(join(PROJECT_ROOT, 'test', '.types-'));
    try {
      writeFileSync(join(dir, 'database.types.ts'), types);
      const good = `import { createClient } from '@supabase/supabase-js';
import ts from 'typescript';
import type { Database, Tables } from './database.types';
const db = createClient<Database>('http://localhost/database/x', 'token');
export async function use(): Promise<void> {
  const { data } = await db.from('cities').select('name, population, countries(name, iso2)').eq('id', 1).single();
  if (data) {
    const name: string = data.name;
    const population: number | null = data.population;
    const iso2: string | null | undefined = data.countries?.iso2;
    void [name, population, iso2];
  }
  const inserted = await db.from('todos').insert({ task: 'typed' }).select('id, done');
  const id: number | undefined = inserted.data?.[0]?.id;
  const sum = await db.rpc('add_them', { a: 1, b: 2 });
  const total: number | null = sum.data;
  const films = await db.rpc('films_of_year', { y: 1954 });
  const titles: string[] = (films.data ?? []).map((f) => f.title);
  const mood: Database['public']['Enums']['mood'] = 'happy';
  const user: Tables<'users'> | null = null;
  void [id, total, titles, mood, user];
}
`;
      const bad = `import { createClient } from '@supabase/supabase-js';
import ts from 'typescript';
import type { Database } from './database.types';
const db = createClient<Database>('http://localhost/database/x', 'token');
export async function misuse(): Promise<void> {
  const { data } = await db.from('cities').select('name').single();
  const wrong: number = data!.name;
  await db.from('todos').insert({ nope: 1 });
  void wrong;
}
`;
      writeFileSync(join(dir, 'good.ts'), good);
      writeFileSync(join(dir, 'bad.ts'), bad);
      const compile = (file: string) => {
        const program = ts.createProgram([join(dir, file)], {
          strict: true,
          noEmit: true,
          target: ts.ScriptTarget.ES2022,
          module: ts.ModuleKind.ESNext,
          moduleResolution: ts.ModuleResolutionKind.Bundler,
          skipLibCheck: true,
        });
        return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      };
      expect(compile('good.ts')).toEqual([]);
      const errors = compile('bad.ts');
      expect(errors.some((e) => /Type 'string' is not assignable to type 'number'/.test(e))).toBe(true);
      expect(errors.some((e) => /nope/.test(e))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('the README', () => {
  it('has a supabase-js example that runs against an instance as written', async () => {
    const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
    const block = /<!-- supabase-js example[^>]*-->\n```js\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toContain("createClient(`${process.env.DBAAS_URL}/database/${process.env.DBAAS_INSTANCE}`");
    await sql('CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text NOT NULL)');
    const dir = mkdtempSync(join(PROJECT_ROOT, 'test', '.types-'));
    try {
      writeFileSync(join(dir, 'example.mjs'), block as string);
      const origin = new URL(url).origin;
      const { execFile } = await import('node:child_process');
      const out = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, [join(dir, 'example.mjs')], { env: { ...process.env, DBAAS_URL: origin, DBAAS_INSTANCE: created.name, DBAAS_TOKEN: token } }, (err, stdout, stderr) =>
          err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
        ),
      );
      expect(out.trim()).toBe('1 [{"id":1,"body":"hello"}]');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
