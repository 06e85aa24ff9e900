import { JsonDocument } from '../jsonDocument.js';
import { z } from 'zod';
import { notFound } from '../errors.js';
import { REGISTRY_VERSION } from './version.js';
import { InstanceRecordSchema, type InstanceRecord } from '../instances/schema.js';

/**
 * The registry: `config/instances.json`, a versioned, zod-checked document. Every change runs
 * under an inter-process lock (a CLI and a server can both write) and lands with write-file-atomic
 * (temp file, fsync, rename) followed by an fsync of the folder, so a crash leaves either the old
 * or the new file, never a torn one. A file that fails to parse is reported, never overwritten.
 */
export { REGISTRY_VERSION };

export const RegistryFileSchema = z.object({
  version: z.literal(REGISTRY_VERSION),
  instances: z.array(InstanceRecordSchema),
});
export type RegistryFile = z.output<typeof RegistryFileSchema>;

/** How old a checked snapshot may be for a lookup that finds its record (see find). */
const RECENT_MS = 100;

const EMPTY: RegistryFile = { version: REGISTRY_VERSION, instances: [] };

export class Registry {
  private readonly doc: JsonDocument<typeof RegistryFileSchema>;

  constructor(readonly file: string) {
    this.doc = new JsonDocument(file, RegistryFileSchema, () => structuredClone(EMPTY), `registry format v${REGISTRY_VERSION}`);
  }

  /** A consistent snapshot (see JsonDocument.read); callers must not modify what this returns. */
  read(): Promise<RegistryFile> {
    return this.doc.read();
  }

  async list(): Promise<InstanceRecord[]> {
    return (await this.read()).instances;
  }

  /**
   * The record of an instance addressed by id or by name; INSTANCE_NOT_FOUND otherwise. A hit may
   * come from a snapshot checked within RECENT_MS (every API request looks its instance up, some
   * twice); a miss always reads the file again, so an instance another process just made is found.
   */
  async find(ref: string): Promise<InstanceRecord> {
    const match = (doc: RegistryFile) => doc.instances.find((r) => r.id === ref || r.name === ref);
    const record = match(await this.doc.read(RECENT_MS)) ?? match(await this.doc.read());
    if (!record) throw notFound(ref);
    return record;
  }

  /** Runs `change` on the current document under the lock and persists what it leaves. */
  update<T>(change: (doc: RegistryFile) => T | Promise<T>): Promise<T> {
    return this.doc.update(change);
  }
}
