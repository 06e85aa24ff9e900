import { describe, expect, it } from 'vitest';
import { candidateNames } from '../../src/database/catalog.js';

/** How the table references of requests are read: `schema.table`, or a name in public. */

describe('candidateNames', () => {
  it('a plain name is in public', () => {
    expect(candidateNames('items')).toEqual([{ schema: 'public', name: 'items' }]);
  });

  it('schema.table is tried first, then the whole text as a name in public', () => {
    expect(candidateNames('shop.orders')).toEqual([
      { schema: 'shop', name: 'orders' },
      { schema: 'public', name: 'shop.orders' },
    ]);
  });

  it('splits at the first dot only', () => {
    expect(candidateNames('a.b.c')).toEqual([
      { schema: 'a', name: 'b.c' },
      { schema: 'public', name: 'a.b.c' },
    ]);
  });

  it('a leading or trailing dot is part of a plain name', () => {
    expect(candidateNames('.items')).toEqual([{ schema: 'public', name: '.items' }]);
    expect(candidateNames('items.')).toEqual([{ schema: 'public', name: 'items.' }]);
    expect(candidateNames('.')).toEqual([{ schema: 'public', name: '.' }]);
  });

  it('hostile text is only ever a name to look up', () => {
    expect(candidateNames("x'; DROP TABLE y; --")).toEqual([{ schema: 'public', name: "x'; DROP TABLE y; --" }]);
    expect(candidateNames('public.t"; --')).toEqual([
      { schema: 'public', name: 't"; --' },
      { schema: 'public', name: 'public.t"; --' },
    ]);
  });
});
