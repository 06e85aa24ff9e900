import nunjucks from 'nunjucks';

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
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(templatesDir, { noCache: true }), {
    autoescape: false,
    throwOnUndefined: true,
    trimBlocks: false,
  });
  env.addFilter('yaml', yamlScalar);
  env.addFilter('sqlident', quoteIdent);
  return { render: (template, context) => env.render(template, context) };
}
