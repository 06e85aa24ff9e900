import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DbaasError } from '../errors.js';
import {
  BACKUP_ID,
  BackupManifestSchema,
  InstanceIdentitySchema,
  type BackupManifest,
  type InstanceIdentity,
} from './manifest.js';

/**
 * Where backups live. Each instance has an area of its own, never shared: by default its
 * `instances/<id>/backups/`, or `<repository>/<id>/` when a shared repository is configured
 * (DBAAS_BACKUP_REPOSITORY). Keyed by the instance id, never by the cluster's system
 * identifier, which instances copied from one template data directory share. An area holds:
 *
 *   instance.json      who the instance was (restores need it after the instance is gone)
 *   wal/               the continuous WAL archive (written by the server's archive_command)
 *   bk_<id>/           one complete backup: its files and dbaas-backup.json
 *   .part-bk_<id>/     a backup being written; renamed when complete, so never listed as good
 */

export const MANIFEST_FILE = 'dbaas-backup.json';
const IDENTITY_FILE = 'instance.json';
const PART_PREFIX = '.part-';

export interface BackupLocation {
  manifest: BackupManifest;
  /** The folder holding the backup's files. */
  dir: string;
  /** The instance area it belongs to. */
  area: string;
}

export function newBackupId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return `bk_${stamp}${Array.from(randomBytes(4), (b) => alphabet[b % alphabet.length]).join('')}`;
}

export class BackupRepository {
  constructor(
    private readonly instancesDir: string,
    /** The shared repository, or null (each instance's own folder). */
    private readonly shared: string | null,
  ) {}

  /** The area of one instance. */
  areaOf(instanceId: string): string {
    return this.shared ? join(this.shared, instanceId) : join(this.instancesDir, instanceId, 'backups');
  }

  walDir(instanceId: string): string {
    return join(this.areaOf(instanceId), 'wal');
  }

  /** Makes the area and its WAL folder; the caller gives the folder to the server's user. */
  ensureArea(identity: InstanceIdentity): string {
    const area = this.areaOf(identity.id);
    mkdirSync(join(area, 'wal'), { recursive: true, mode: 0o700 });
    this.writeIdentity(area, identity);
    return area;
  }

  /** Records who the instance is (or that it was deleted); written whole, then renamed. */
  writeIdentity(area: string, identity: InstanceIdentity): void {
    const tmp = join(area, `.${IDENTITY_FILE}.${process.pid}`);
    writeFileSync(tmp, `${JSON.stringify(identity, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, join(area, IDENTITY_FILE));
  }

  identity(area: string): InstanceIdentity | null {
    const path = join(area, IDENTITY_FILE);
    if (!existsSync(path)) return null;
    const parsed = InstanceIdentitySchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    return parsed.success ? parsed.data : null;
  }

  /** Every instance area: the shared repository's and each instance folder's own. */
  areas(): string[] {
    const found = new Set<string>();
    const scan = (root: string, sub: string | null) => {
      if (!existsSync(root)) return;
      for (const name of readdirSync(root)) {
        if (!/^db_[a-z0-9]+$/.test(name)) continue;
        const area = sub ? join(root, name, sub) : join(root, name);
        if (existsSync(area) && statSync(area).isDirectory()) found.add(area);
      }
    };
    if (this.shared) scan(this.shared, null);
    // Backups written before a shared repository was configured stay listed where they are.
    scan(this.instancesDir, 'backups');
    return [...found];
  }

  /** The complete backups of one area, oldest first; a manifest that does not parse is skipped. */
  backupsIn(area: string): BackupLocation[] {
    if (!existsSync(area)) return [];
    const out: BackupLocation[] = [];
    for (const name of readdirSync(area).filter((n) => BACKUP_ID.test(n))) {
      const dir = join(area, name);
      const manifest = readManifest(dir);
      if (manifest) out.push({ manifest, dir, area });
    }
    return out.sort(byAge);
  }

  /** Every complete backup, of existing and deleted instances, oldest first. */
  all(): BackupLocation[] {
    return this.areas()
      .flatMap((area) => this.backupsIn(area))
      .sort(byAge);
  }

  find(backupId: string): BackupLocation {
    if (!BACKUP_ID.test(backupId)) throw backupNotFound(backupId);
    for (const area of this.areas()) {
      const dir = join(area, backupId);
      if (!existsSync(dir)) continue;
      const manifest = readManifest(dir);
      if (manifest) return { manifest, dir, area };
    }
    throw backupNotFound(backupId);
  }

  /** A folder for a backup being written (`.part-<id>`), emptied of an earlier attempt. */
  partDir(instanceId: string, backupId: string): string {
    const dir = join(this.areaOf(instanceId), `${PART_PREFIX}${backupId}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  /** Removes what a failed backup wrote. */
  discardPart(partDir: string): void {
    rmSync(partDir, { recursive: true, force: true });
  }

  /** Makes a written backup complete: its manifest, then the rename that lists it. */
  commit(partDir: string, manifest: BackupManifest): BackupLocation {
    writeManifest(partDir, manifest);
    const area = this.areaOf(manifest.instance.id);
    const dir = join(area, manifest.id);
    renameSync(partDir, dir);
    return { manifest, dir, area };
  }

  /** Rewrites the manifest of a complete backup (its verification result). */
  update(location: BackupLocation, manifest: BackupManifest): void {
    writeManifest(location.dir, manifest);
  }

  /**
   * Removes backups being written that no process writes any more (a kill, an engine or disk
   * failure): they were never listed, this only frees their space.
   */
  removeStaleParts(area: string, olderThanMs: number): string[] {
    if (!existsSync(area)) return [];
    const removed: string[] = [];
    for (const name of readdirSync(area).filter((n) => n.startsWith(PART_PREFIX))) {
      const path = join(area, name);
      if (Date.now() - statSync(path).mtimeMs < olderThanMs) continue;
      rmSync(path, { recursive: true, force: true });
      removed.push(name);
    }
    return removed;
  }

  remove(location: BackupLocation): void {
    // Renamed first, so that a crash half-way leaves a part folder, never a listed backup with files missing.
    const doomed = join(location.area, `${PART_PREFIX}${location.manifest.id}-deleted`);
    renameSync(location.dir, doomed);
    rmSync(doomed, { recursive: true, force: true });
  }

  /** Whether an area holds nothing but its archive and identity (no backup, nothing else put there). */
  holdsOnlyArchive(area: string): boolean {
    if (!existsSync(area)) return true;
    return readdirSync(area).every((name) => name === 'wal' || name === IDENTITY_FILE || name.startsWith(PART_PREFIX) || name.startsWith(`.${IDENTITY_FILE}`));
  }

  /** Removes an instance's whole area: its backups and its WAL archive. */
  purge(instanceId: string): void {
    rmSync(this.areaOf(instanceId), { recursive: true, force: true });
  }
}

/**
 * Oldest first, by when each backup started (to the millisecond): ids name the second only, and
 * two backups of one second would otherwise be ordered by their random suffix.
 */
function byAge(a: BackupLocation, b: BackupLocation): number {
  return Date.parse(a.manifest.startedAt) - Date.parse(b.manifest.startedAt) || a.manifest.id.localeCompare(b.manifest.id);
}

function readManifest(dir: string): BackupManifest | null {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) return null;
  try {
    const parsed = BackupManifestSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

function writeManifest(dir: string, manifest: BackupManifest): void {
  const tmp = join(dir, `.${MANIFEST_FILE}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(BackupManifestSchema.parse(manifest), null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, join(dir, MANIFEST_FILE));
}

export function backupNotFound(ref: string): DbaasError {
  return new DbaasError('BACKUP_NOT_FOUND', `no backup "${ref}"`, { backup: ref });
}
