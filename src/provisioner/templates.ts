import { createRequire } from 'node:module';
import type nunjucksType from 'nunjucks';

/** Quotes a PostgreSQL identifier: wraps in double quotes and doubles any inside. */
export function quoteIdent(name: string): string {
  if (name.includes('\0')) throw new Error('identifier contains a NUL byte');
  return `"${name.replace(/"/g, '""')}"`;
}

/** A YAML scalar: JSON strings and numbers are valid YAML, so JSON.stringify quotes safely. */
function yamlScalar(value: unknown): string {
  return JSON.stringify(value);
}

export interface TemplateRenderer {
  render(template: string, context: Record<string, unknown>): string;
}

/**
 * nunjucks over templates/. Autoescaping is off (we render YAML and SQL, not HTML); instead the
 * templates escape explicitly with `yaml` and `sqlident`, and undefined variables are errors.
 */
export function createRenderer(templatesDir: string): TemplateRenderer {
  let env: nunjucksType.Environment | undefined;
  // nunjucks is loaded on the first render: most commands render nothing.
  const environment = () => (env ??= makeEnvironment(templatesDir));
  return { render: (template, context) => environment().render(template, context) };
}

function makeEnvironment(templatesDir: string): nunjucksType.Environment {
  const nunjucks = createRequire(import.meta.url)('nunjucks') as typeof nunjucksType;
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(templatesDir, { noCache: true }), {
    autoescape: false,
    throwOnUndefined: true,
    trimBlocks: false,
  });
  env.addFilter('yaml', yamlScalar);
  env.addFilter('sqlident', quoteIdent);
  return env;
}
