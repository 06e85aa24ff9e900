import { asDbaasError, DbaasError, validationError } from '../errors.js';
import type { InstanceDeps } from './deps.js';
import { checkPgSettings } from './pgParameters.js';

/**
 * What a create or an update checks against the image before anything is made: that the image
 * is on the host (or can be pulled), and that the requested PostgreSQL settings are the user's to
 * set and within what that image's server accepts (its own pg_settings).
 */

export async function ensureImage(deps: Pick<InstanceDeps, 'engine' | 'settings'>, image: string, version: number): Promise<void> {
  const { engine, settings } = deps;
  if (await engine.imageExists(image)) return;
  const build = `Build it with "dbaas image build --version ${version}" or set DBAAS_IMAGE_${version}.`;
  if (settings.pullPolicy === 'never') {
    throw new DbaasError('IMAGE_NOT_AVAILABLE', `image ${image} for version ${version} is not on this host (pulling is off: DBAAS_PULL_POLICY=never). ${build}`, {
      field: 'version',
      image,
    });
  }
  try {
    await engine.pull(image);
  } catch (err) {
    const reason = asDbaasError(err);
    if (reason.code === 'ENGINE_UNAVAILABLE') throw reason;
    throw new DbaasError('IMAGE_NOT_AVAILABLE', `image ${image} for version ${version} is not on this host and cannot be pulled (${reason.message}). ${build}`, {
      field: 'version',
      image,
    });
  }
}

/**
 * Refuses PostgreSQL settings that are not the user's to set or that the server would refuse
 * (type, unit, bounds from the image's own pg_settings), as VALIDATION_FAILED naming each.
 */
export async function checkSettings(
  deps: Pick<InstanceDeps, 'engine' | 'paths'>,
  image: string,
  settings: Record<string, string>,
  memory: number,
): Promise<void> {
  const catalog = await deps.engine.settingsCatalog(image, deps.paths.settingsCatalogDir);
  const issues = checkPgSettings(settings, catalog, { memoryBytes: memory });
  if (issues.length > 0) throw validationError(issues);
}
