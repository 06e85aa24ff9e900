import { DbaasError } from '../../errors.js';

/**
 * PostgREST's URL grammar, parsed into plain data: `select=` trees with renames, casts, JSON
 * paths and embedded resources; filters with every operator, `not.`, `any`/`all` and `or`/`and`
 * trees; `order=`; `limit`/`offset` per embedded resource. Pure: nothing here touches SQL. The
 * builder (sql.ts) checks every name against the catalog and binds every value.
 */

export const OPERATORS = [
  'eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'like', 'ilike', 'match', 'imatch', 'in', 'is', 'isdistinct',
  'fts', 'plfts', 'phfts', 'wfts', 'cs', 'cd', 'ov', 'sl', 'sr', 'nxl', 'nxr', 'adj',
] as const;
export type Operator = (typeof OPERATORS)[number];

/** One `->` or `->>` step of a JSON path: a key, or an array index when `index` is set. */
export interface JsonStep {
  arrow: '->' | '->>';
  key: string;
  index?: number;
}

/** A column with an optional JSON path: `data->a->>b`. */
export interface Field {
  column: string;
  path: JsonStep[];
}

export type SelectItem =
  | { kind: 'star' }
  | { kind: 'column'; field: Field; alias?: string; cast?: string }
  | { kind: 'embed'; target: string; alias?: string; hint?: string; inner: boolean; spread: boolean; select: SelectItem[] };

export interface FilterCondition {
  kind: 'filter';
  field: Field;
  op: Operator;
  negate: boolean;
  /** `eq(any).{a,b}`: the value is a list compared with ANY or ALL. */
  quantifier?: 'any' | 'all';
  /** fts(english): the text search configuration. */
  language?: string;
  /** Text for most operators; a list for `in` and quantified ones; null/true/false/unknown for `is`. */
  value: string | string[] | null | boolean | 'unknown';
}
export interface LogicCondition {
  kind: 'logic';
  op: 'and' | 'or';
  negate: boolean;
  children: Condition[];
}
export type Condition = FilterCondition | LogicCondition;

export interface OrderTerm {
  field: Field;
  descending: boolean;
  nulls?: 'first' | 'last';
}

/** The PGRST100-style parse error; the message says where. */
export function parseError(message: string, details?: string): DbaasError {
  return new DbaasError('MALFORMED_REQUEST', message, { pgrst: 'PGRST100', detail: details ?? null });
}

/** Splits on `sep` at depth 0, outside double quotes. */
export function splitTop(text: string, sep = ','): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '\\' && i + 1 < text.length) {
        current += ch + text[++i];
        continue;
      }
      if (ch === '"') quoted = false;
      current += ch;
      continue;
    }
    if (ch === '"') quoted = true;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    if (depth < 0) throw parseError(`unbalanced parentheses in "${text}"`);
    if (ch === sep && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (quoted) throw parseError(`unterminated quote in "${text}"`);
  if (depth !== 0) throw parseError(`unbalanced parentheses in "${text}"`);
  parts.push(current);
  return parts;
}

/** `"a b"` -> `a b` (with `\"` and `\\` escapes); anything else as it is. */
function unquote(text: string): string {
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) return text.slice(1, -1).replace(/\\(.)/g, '$1');
  return text;
}

/** `data->a->>0`: a column and its JSON path. */
export function parseField(text: string): Field {
  const trimmed = text.trim();
  if (trimmed === '') throw parseError('empty column name');
  const pieces = trimmed.split(/(->>|->)/);
  const column = unquote(pieces[0] as string);
  if (column === '') throw parseError(`"${text}" names no column`);
  const path: JsonStep[] = [];
  for (let i = 1; i < pieces.length; i += 2) {
    const arrow = pieces[i] as '->' | '->>';
    const key = unquote(pieces[i + 1] ?? '');
    if (key === '') throw parseError(`"${text}": a JSON path step names no key`);
    const step: JsonStep = { arrow, key };
    if (/^-?\d+$/.test(key)) step.index = Number(key);
    path.push(step);
  }
  return { column, path };
}

/** The name a field gets in the output: the last key of its path, else the column. */
export function fieldName(field: Field): string {
  return field.path.length ? (field.path.at(-1) as JsonStep).key : field.column;
}

const CAST = /^[A-Za-z_][A-Za-z0-9_ ]*(\[\])?$/;

/** `select=` into a tree. */
export function parseSelect(text: string | undefined): SelectItem[] {
  if (text === undefined || text.trim() === '') return [{ kind: 'star' }];
  return splitTop(text).map((raw) => parseSelectItem(raw.trim(), text));
}

function parseSelectItem(raw: string, whole: string): SelectItem {
  if (raw === '') throw parseError(`"select=${whole}" has an empty item`);
  if (raw === '*') return { kind: 'star' };
  const open = indexOutsideQuotes(raw, '(');
  if (open >= 0) {
    if (!raw.endsWith(')')) throw parseError(`"${raw}": an embedded resource ends with ")"`);
    let head = raw.slice(0, open);
    const inside = raw.slice(open + 1, -1);
    let spread = false;
    if (head.startsWith('...')) {
      spread = true;
      head = head.slice(3);
    }
    const { alias, rest } = splitAlias(head);
    const [target, ...marks] = rest.split('!');
    let hint: string | undefined;
    let inner = false;
    for (const mark of marks) {
      if (mark === 'inner') inner = true;
      else if (mark === 'left') inner = false;
      else if (hint === undefined && mark !== '') hint = unquote(mark);
      else throw parseError(`"${raw}": unexpected "!${mark}"`);
    }
    if (!target) throw parseError(`"${raw}" names no resource to embed`);
    return { kind: 'embed', target: unquote(target), alias, hint, inner, spread, select: parseSelect(inside === '' ? '*' : inside) };
  }
  const { alias, rest } = splitAlias(raw);
  const castAt = indexOutsideQuotes(rest, '::');
  let fieldText = rest;
  let cast: string | undefined;
  if (castAt >= 0) {
    fieldText = rest.slice(0, castAt);
    cast = rest.slice(castAt + 2).trim();
    if (!CAST.test(cast)) throw parseError(`"${raw}": "${cast}" is not a type name`);
  }
  return { kind: 'column', field: parseField(fieldText), alias, cast };
}

/** `alias:rest` (a single colon; `::` is a cast). */
function splitAlias(text: string): { alias?: string; rest: string } {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '"') {
      const close = text.indexOf('"', i + 1);
      if (close < 0) break;
      i = close;
      continue;
    }
    if (text[i] === ':' ) {
      if (text[i + 1] === ':') return { rest: text };
      const alias = unquote(text.slice(0, i));
      if (alias === '') throw parseError(`"${text}": empty alias`);
      return { alias, rest: text.slice(i + 1) };
    }
  }
  return { rest: text };
}

function indexOutsideQuotes(text: string, needle: string): number {
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '"') quoted = !quoted;
    else if (!quoted && text.startsWith(needle, i)) return i;
  }
  return -1;
}

/** PostgREST's list `(a,b,"c,d")`. */
export function parseList(text: string, what: string): string[] {
  if (!text.startsWith('(') || !text.endsWith(')')) throw parseError(`${what}: expected a list like (1,2,3), got "${text}"`);
  const body = text.slice(1, -1);
  if (body.trim() === '') return [];
  return splitTop(body).map((v) => {
    const t = v.trim();
    return t.startsWith('"') ? unquote(t) : t;
  });
}

/** `{a,b}` or `(a,b)` after a quantifier: the list of values. */
function parseQuantified(text: string, what: string): string[] {
  if (text.startsWith('{') && text.endsWith('}')) return parseList(`(${text.slice(1, -1)})`, what);
  return parseList(text, what);
}

/** `op.value`, `not.op.value`, `op(any).{..}`, `fts(english).cat`: the right side of `col=`. */
export function parseFilterExpression(field: Field, expression: string, where: string): FilterCondition {
  let rest = expression;
  let negate = false;
  if (rest.startsWith('not.')) {
    negate = true;
    rest = rest.slice(4);
  }
  const match = /^([a-z]+)(?:\(([^)]*)\))?\./.exec(rest);
  const op = match?.[1] as Operator | undefined;
  if (!match || !op || !(OPERATORS as readonly string[]).includes(op)) {
    throw parseError(`"${where}=${expression}": unknown operator; use one of ${OPERATORS.join(', ')}`, `failed to parse filter (${expression})`);
  }
  const modifier = match[2];
  const raw = rest.slice(match[0].length);
  const condition: FilterCondition = { kind: 'filter', field, op, negate, value: raw };
  if (modifier !== undefined) {
    if (modifier === 'any' || modifier === 'all') {
      if (!['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'like', 'ilike', 'match', 'imatch'].includes(op)) {
        throw parseError(`"${where}=${expression}": ${op} takes no (${modifier})`);
      }
      condition.quantifier = modifier;
      condition.value = parseQuantified(raw, where);
    } else if (['fts', 'plfts', 'phfts', 'wfts'].includes(op)) {
      condition.language = modifier;
    } else {
      throw parseError(`"${where}=${expression}": ${op} takes no (${modifier})`);
    }
    return condition;
  }
  if (op === 'in') condition.value = parseList(raw, where);
  else if (op === 'is') {
    const map: Record<string, FilterCondition['value']> = { null: null, true: true, false: false, unknown: 'unknown' };
    if (!(raw.toLowerCase() in map)) throw parseError(`"${where}=${expression}": is. takes null, true, false or unknown`);
    condition.value = map[raw.toLowerCase()] as FilterCondition['value'];
  }
  return condition;
}

/** `or=(a.eq.1,and(b.gt.2,c.is.null))`: the tree. `negate` for the `not.or` form. */
export function parseLogic(op: 'and' | 'or', negate: boolean, text: string): LogicCondition {
  if (!text.startsWith('(') || !text.endsWith(')')) throw parseError(`${op}=${text}: expected (condition,condition,...)`);
  const children = splitTop(text.slice(1, -1)).map((item) => parseLogicItem(item.trim()));
  if (children.length === 0) throw parseError(`${op}=${text}: no condition`);
  return { kind: 'logic', op, negate, children };
}

function parseLogicItem(item: string): Condition {
  const nested = /^(not\.)?(and|or)(\(.*\))$/s.exec(item);
  if (nested) return parseLogic(nested[2] as 'and' | 'or', Boolean(nested[1]), nested[3] as string);
  // col.op.value: the column ends at the first dot outside quotes.
  const end = indexOutsideQuotes(item, '.');
  if (end <= 0) throw parseError(`"${item}" is not column.operator.value`);
  const field = parseField(item.slice(0, end));
  const condition = parseFilterExpression(field, item.slice(end + 1), item.slice(0, end));
  if (typeof condition.value === 'string') condition.value = unquote(condition.value);
  return condition;
}

/** `order=col.desc.nullslast,other`. */
export function parseOrder(text: string): OrderTerm[] {
  return splitTop(text).map((part) => {
    const trimmed = part.trim();
    if (trimmed === '') throw parseError(`order=${text}: empty term`);
    // The field ends at the first dot outside double quotes; what follows are modifiers.
    const dot = indexOutsideQuotes(trimmed, '.');
    const end = dot < 0 ? trimmed.length : dot;
    const pieces = [trimmed.slice(0, end)];
    const modifiers = end < trimmed.length ? trimmed.slice(end + 1).split('.') : [];
    for (const m of modifiers) {
      if (!['asc', 'desc', 'nullsfirst', 'nullslast'].includes(m)) throw parseError(`order=${text}: "${m}" is not asc, desc, nullsfirst or nullslast`);
    }
    const term: OrderTerm = { field: parseField(pieces.join('.')), descending: false };
    for (const m of modifiers) {
      if (m === 'asc') term.descending = false;
      else if (m === 'desc') term.descending = true;
      else term.nulls = m === 'nullsfirst' ? 'first' : 'last';
    }
    return term;
  });
}

/** What a request asks of one resource (the root, or an embedded one by its path of names). */
export interface NodeQuery {
  conditions: Condition[];
  order: OrderTerm[];
  limit?: number;
  offset?: number;
}

export interface ReadQuery {
  select: SelectItem[];
  /** Keyed by the path of embedded names joined with '.', '' for the root. */
  nodes: Map<string, NodeQuery>;
  /** Parameters that are not filters: columns, on_conflict, after (a keyset cursor), and a function's arguments on GET. */
  other: Map<string, string>;
}

const ROOT_WORDS = new Set(['select', 'columns', 'on_conflict', 'after']);

function wholeNumber(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw parseError(`${what}=${text}: expected a whole number`);
  return Number(text);
}

/**
 * The whole query string. `argNames` are a function's parameters (RPC over GET): those keys are
 * arguments, not filters.
 */
export function parseReadQuery(query: Record<string, string | string[] | undefined>, argNames: ReadonlySet<string> = new Set()): ReadQuery {
  const nodes = new Map<string, NodeQuery>();
  const node = (path: string): NodeQuery => {
    let n = nodes.get(path);
    if (!n) nodes.set(path, (n = { conditions: [], order: [] }));
    return n;
  };
  node('');
  const other = new Map<string, string>();
  let select: string | undefined;
  for (const [key, raw] of Object.entries(query)) {
    if (raw === undefined) continue;
    const values = Array.isArray(raw) ? raw : [raw];
    if (key === 'select') {
      select = values.at(-1);
      continue;
    }
    if (ROOT_WORDS.has(key) || argNames.has(key)) {
      other.set(key, values.at(-1) as string);
      continue;
    }
    // rel.sub.col, rel.order, rel.not.or ...: the last word (two for not.and/not.or) says what it is.
    const parts = key.split('.');
    const word = parts.pop() as string;
    let negate = false;
    if ((word === 'or' || word === 'and') && parts.at(-1) === 'not') {
      parts.pop();
      negate = true;
    }
    const path = parts.join('.');
    for (const value of values) {
      if (word === 'order') node(path).order.push(...parseOrder(value));
      else if (word === 'limit') node(path).limit = wholeNumber(value, key);
      else if (word === 'offset') node(path).offset = wholeNumber(value, key);
      else if (word === 'or' || word === 'and') node(path).conditions.push(parseLogic(word, negate, value));
      else node(path).conditions.push(parseFilterExpression(parseField(word), value, key));
    }
  }
  return { select: parseSelect(select), nodes, other };
}

/** `Range: 0-9` (items). */
export function parseRange(header: string | undefined): { offset: number; limit?: number } | undefined {
  if (!header) return undefined;
  const match = /^\s*(\d+)-(\d*)\s*$/.exec(header.replace(/^items=/, ''));
  if (!match) return undefined; // PostgREST ignores a Range it cannot read
  const from = Number(match[1]);
  if (match[2] === '') return { offset: from };
  const to = Number(match[2]);
  if (to < from) return { offset: from, limit: 0 };
  return { offset: from, limit: to - from + 1 };
}

/** The `Prefer` header's parts PostgREST honours. */
export interface Preferences {
  return?: 'minimal' | 'headers-only' | 'representation';
  count?: 'exact' | 'planned' | 'estimated';
  resolution?: 'merge-duplicates' | 'ignore-duplicates';
  missing?: 'default' | 'null';
  tx?: 'commit' | 'rollback';
  handling?: 'strict' | 'lenient';
  maxAffected?: number;
}

export function parsePrefer(header: string | string[] | undefined): Preferences {
  const prefs: Preferences = {};
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  for (const part of text.split(',')) {
    const [rawName, rawValue] = part.trim().split('=');
    const name = rawName?.trim();
    const value = rawValue?.trim();
    if (!name || value === undefined) continue;
    if (name === 'return' && ['minimal', 'headers-only', 'representation'].includes(value)) prefs.return = value as Preferences['return'];
    else if (name === 'count' && ['exact', 'planned', 'estimated'].includes(value)) prefs.count = value as Preferences['count'];
    else if (name === 'resolution' && ['merge-duplicates', 'ignore-duplicates'].includes(value)) prefs.resolution = value as Preferences['resolution'];
    else if (name === 'missing' && ['default', 'null'].includes(value)) prefs.missing = value as Preferences['missing'];
    else if (name === 'tx' && ['commit', 'rollback'].includes(value)) prefs.tx = value as Preferences['tx'];
    else if (name === 'handling' && ['strict', 'lenient'].includes(value)) prefs.handling = value as Preferences['handling'];
    else if (name === 'max-affected' && /^\d+$/.test(value)) prefs.maxAffected = Number(value);
  }
  return prefs;
}
