import { UNLOGGED_SESSION_OPTIONS } from '../database/controlAccess.js';
import { scramVerifier } from '../database/scram.js';
import { DbaasError } from '../errors.js';
import { containerNameFor } from '../provisioner/provisioner.js';
import { SERVER_INIT_DIR } from '../provisioner/serverContract.js';
import type { InstanceDeps } from './deps.js';
import type { InstanceRecord } from './schema.js';
import { serverErrorLines } from './serverReady.js';

/**
 * The first start of an instance whose data folder was copied from the image's template: what
 * the image's entrypoint does on an empty folder, done by dbaas. Inside the server's container,
 * as its postgres user over the local socket (peer authentication; TCP stays closed to every
 * password until this is done, since no role has one): wait until the server accepts local
 * connections, set the superuser's password (a SCRAM verifier computed here, sent on the
 * command's standard input in a session that logs no statement, so neither the password nor
 * its verifier reaches the server's log or an argument list), then run the instance's init
 * scripts in order, each in its own session on the `postgres` database, as the entrypoint does.
 * A restored data folder has its roles and database already: it gets the password only.
 */
const SCRIPT = `set -euo pipefail
deadline=$((SECONDS + $1))
until pg_isready -q; do
  if [ "$SECONDS" -ge "$deadline" ]; then echo "the server did not accept local connections in $1 s" >&2; exit 1; fi
  sleep 0.05
done
PGOPTIONS="$2" psql -X -q -v ON_ERROR_STOP=1 -d postgres -f -
[ "$3" = scripts ] || exit 0
for f in ${SERVER_INIT_DIR}/*.sql; do
  [ -e "$f" ] || continue
  psql -X -q -v ON_ERROR_STOP=1 -d postgres -f "$f"
done`;

export async function bootstrapFromTemplate(
  deps: Pick<InstanceDeps, 'engine' | 'settings'>,
  record: InstanceRecord,
  adminPassword: string,
  options: { initScripts: boolean } = { initScripts: true },
): Promise<void> {
  const name = containerNameFor(record);
  const waitSec = Math.max(1, Math.ceil(deps.settings.readyTimeoutMs / 1000));
  const sql = `ALTER ROLE postgres PASSWORD '${scramVerifier(adminPassword)}';\n`;
  const result = await deps.engine.execute(name, {
    argv: ['bash', '-c', SCRIPT, 'bootstrap', String(waitSec), UNLOGGED_SESSION_OPTIONS, options.initScripts ? 'scripts' : 'no-scripts'],
    user: 'postgres',
    stdin: sql,
    timeoutMs: deps.settings.readyTimeoutMs + 30_000,
  });
  if (result.exitCode !== 0) {
    const output = result.output.trim().split('\n').slice(-10).join('\n');
    throw new DbaasError(
      'PROVISIONING_FAILED',
      `the first start of the server failed (exit code ${result.exitCode})${output ? `:\n${output}` : ''}; ${await serverErrorLines(deps, name)}`,
      { step: 'bootstrap' },
    );
  }
}
