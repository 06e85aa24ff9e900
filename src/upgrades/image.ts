import { DbaasError } from '../errors.js';
import type { InstanceEngine } from '../runtime/workload.js';

/**
 * The image a major upgrade runs in: the target version's image with the source version's
 * server binaries beside its own (pg_upgrade needs both; the dump method runs both servers).
 * The images dbaas builds come from different Debian suites (13 from bullseye, 17 from trixie),
 * so the old binaries need libraries the new system no longer ships under their names (OpenSSL
 * 1.1, ICU 67, ...): those, and only those, are copied from the old image into a folder of their
 * own on LD_LIBRARY_PATH. A name the new system has is never copied, so the new binaries keep
 * loading the new system's libraries. The C library itself is always present and backwards
 * compatible, so binaries of an older suite run on a newer one.
 *
 * Built locally from the two images (no registry), tagged dbaas-upgrade:<from>-to-<to>, and
 * labelled with both images' ids: a rebuilt source or target image makes it stale, and the next
 * upgrade builds it again.
 */

const FROM_LABEL = 'dbaas.upgrade.from-image';
/** On the build's middle stage, which the builder keeps as an untagged image: removed after the build. */
const STAGE_LABEL = 'dbaas.upgrade.stage';
const TO_LABEL = 'dbaas.upgrade.to-image';
const BUILD_TIMEOUT_MS = 20 * 60_000;

export interface VersionImage {
  version: number;
  image: string;
}

export function upgradeImageTag(from: number, to: number): string {
  return `dbaas-upgrade:${from}-to-${to}`;
}

/** The folder of the old binaries' own libraries, in the upgrade image. */
export function compatLibraryDir(from: number): string {
  return `/usr/lib/postgresql/${from}/compat`;
}

export function upgradeDockerfile(from: VersionImage & { id: string }, to: VersionImage & { id: string }): string {
  const old = `/usr/lib/postgresql/${from.version}`;
  const compat = compatLibraryDir(from.version);
  // The JIT provider is left out of the scan: the upgrade runs its servers with jit=off, and
  // LLVM is large and pulls in more of the old suite.
  const scan = [
    `set -eu; mkdir -p ${compat}`,
    `for round in 1 2 3 4 5 6 7 8; do`,
    `  missing=$(for f in ${old}/bin/* ${old}/lib/*.so ${compat}/*; do case $f in *llvmjit*) continue;; esac; [ -f "$f" ] || continue; LD_LIBRARY_PATH=${compat} ldd "$f" 2>/dev/null | awk '/not found/ {print $1}'; done | sort -u)`,
    `  [ -z "$missing" ] && break`,
    `  for lib in $missing; do src=$(find /opt/old-usr-lib -name "$lib" | head -n 1); [ -n "$src" ] || { echo "the old image has no $lib"; exit 1; }; cp -L "$src" ${compat}/; done`,
    `done`,
    `LD_LIBRARY_PATH=${compat} ${old}/bin/postgres -V`,
  ].join('\n');
  return [
    `FROM sha256:${from.id} AS old`,
    `FROM sha256:${to.id} AS compat`,
    `COPY --from=old ${old} ${old}`,
    `COPY --from=old /usr/lib /opt/old-usr-lib`,
    `RUN ${JSON.stringify(['bash', '-c', scan])}`,
    `LABEL ${STAGE_LABEL}="compat"`,
    `FROM sha256:${to.id}`,
    `COPY --from=compat ${old} ${old}`,
    `COPY --from=old /usr/share/postgresql/${from.version} /usr/share/postgresql/${from.version}`,
    `ENV LD_LIBRARY_PATH=${compat}`,
    `LABEL ${FROM_LABEL}="${from.id}" ${TO_LABEL}="${to.id}"`,
    '',
  ].join('\n');
}

/** An image of the host by its name; IMAGE_NOT_AVAILABLE naming the build that makes it. */
async function present(engine: InstanceEngine, v: VersionImage): Promise<{ id: string }> {
  const info = await engine.imageInfo(v.image);
  if (!info) throw new DbaasError('IMAGE_NOT_AVAILABLE', `image ${v.image} (PostgreSQL ${v.version}) is not on this host; build it with "dbaas image build --version ${v.version}"`, { image: v.image });
  return info;
}

/** The upgrade image for these two images: the one on the host when it was built from them, else built now. */
export async function ensureUpgradeImage(engine: InstanceEngine, from: VersionImage, to: VersionImage): Promise<{ tag: string; built: boolean }> {
  const tag = upgradeImageTag(from.version, to.version);
  const [source, target, existing] = await Promise.all([present(engine, from), present(engine, to), engine.imageInfo(tag)]);
  const id = (i: { id: string }) => i.id.replace(/^sha256:/, '');
  if (existing && existing.labels[FROM_LABEL] === id(source) && existing.labels[TO_LABEL] === id(target)) return { tag, built: false };
  await engine.buildImage(tag, upgradeDockerfile({ ...from, id: id(source) }, { ...to, id: id(target) }), BUILD_TIMEOUT_MS);
  // The stale one lost its tag to the new build, and the middle stage has none: each is hundreds
  // of megabytes that nothing names any more.
  if (existing) await engine.removeImageIfUnused(existing.id).catch(() => false);
  await engine.removeUntaggedImages(`${STAGE_LABEL}=compat`).catch(() => 0);
  return { tag, built: true };
}
