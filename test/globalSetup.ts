import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { PROJECT_ROOT } from '../src/config/settings.js';

/**
 * Integration tests need the real engine, the PostgreSQL image and the compiled CLI. Say clearly
 * what is missing instead of failing deep inside a test (scripts/setup.sh provides all three).
 */
export default async function setup(): Promise<void> {
  const problems: string[] = [];
  if (!existsSync(join(PROJECT_ROOT, 'dist', 'cli', 'index.js'))) problems.push('dist/ is missing: run `npm run build`');
  const docker = new Dockerode({ socketPath: process.env.DBAAS_DOCKER_SOCKET ?? '/var/run/docker.sock' });
  try {
    await docker.version();
    const image = process.env.DBAAS_IMAGE_15 ?? 'postgres:15';
    await docker.getImage(image).inspect().catch(() => problems.push(`image ${image} is missing: run \`bin/dbaas image build\``));
  } catch {
    problems.push('the Docker engine does not answer: run scripts/setup.sh');
  }
  if (problems.length) throw new Error(`cannot run the tests:\n- ${problems.join('\n- ')}`);
}
