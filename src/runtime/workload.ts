import type { Readable } from 'node:stream';
import type { PgSettingInfo } from '../instances/pgParameters.js';
import type { ContainerSpec } from './composeSpec.js';
import type { DataTemplateRequest } from './dataTemplate.js';

/**
 * The engine seam: what dbaas asks of whatever runs an instance's services, in dbaas's own
 * words. The single-host Docker engine (DockerEngine) is one implementation; a Swarm engine,
 * where a service runs as tasks on some node, is to be another. Nothing outside src/runtime
 * sees a type of the engine's client library.
 */

/** What the engine runs for one service of an instance: a container here, a task on Swarm. */
export type RunPhase = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead' | 'unknown';

/** The observed state of one service of an instance. */
export interface ServiceState {
  /** The engine's id of what runs the service. */
  id: string;
  /** Its name (unique in the engine): the compose file's container_name. */
  name: string;
  /** The instance and the service it belongs to, from its labels; null for foreign ones. */
  instance: string | null;
  service: string | null;
  phase: RunPhase;
  /**
   * Its process exists: true while running and while paused (frozen, not serving), as the
   * engine's own Running flag; `phase` tells the two apart. Listing and inspecting agree.
   */
  running: boolean;
  restarting: boolean;
  /** Killed for lack of memory; null when the engine's answer did not say (a listing). */
  oomKilled: boolean | null;
  exitCode: number | null;
  /** ISO time of its last start; null when it never started or the answer did not say. */
  startedAt: string | null;
  /** Restarts by the engine's restart policy; null when the answer did not say. */
  restartCount: number | null;
  /** The hash of the compose service it was made from (the dbaas.config-hash label). */
  configHash: string | null;
  /** The engine's words for it, e.g. "Exited (137) 3 minutes ago". */
  statusText: string;
  /**
   * Where its own network stack answers, as this host can dial it (the bridge addresses of a
   * container); empty when the answer did not say (a listing) or nothing is reachable so.
   */
  addresses: string[];
  /** The id of the image it was made from (sha256:...): a rebuilt tag has another. */
  imageId: string | null;
}

/** CPU, memory and network of one running service, as `docker stats` reports them. */
export interface ResourceStats {
  cpuPercent: number;
  /** CPU time the service used since it started (a counter). */
  cpuSecondsTotal: number;
  memoryUsed: number;
  memoryLimit: number;
  memoryPercent: number;
  pids: number;
  networkRxBytes: number;
  networkTxBytes: number;
  readAt: string;
}

export interface ExecCommand {
  argv: string[];
  user?: string;
  stdin?: string;
  timeoutMs: number;
}

export interface ExecResult {
  exitCode: number;
  output: string;
}

/** A command fed from a stream (a dump given back to pg_restore), its stdout and stderr kept apart. */
export interface StreamCommand {
  argv: string[];
  user?: string;
  /** Fed to the command's stdin, which is closed at its end. */
  stdin?: Readable;
  timeoutMs: number;
  /** Ends the command (its stream is closed; the command sees a broken pipe). */
  signal?: AbortSignal;
}

export interface StreamResult {
  exitCode: number;
  /** The last 64 KiB of its stdout. */
  output: string;
  /** The last 64 KiB of its stderr. */
  stderr: string;
}

/** A one-off container of an image, run to its exit for dbaas's own work (a restore, a check). */
export interface JobSpec {
  /** What it is for, in its label and in error messages ("restore bk_..."). */
  purpose: string;
  label: string;
  argv: string[];
  user?: string;
  /** Host folders or files mounted into it. */
  mounts: Array<{ host: string; container: string; readOnly?: boolean }>;
  memory?: number;
  timeoutMs: number;
}

export interface InstanceEngine {
  /** Answers when the engine is reachable (ENGINE_UNAVAILABLE otherwise). */
  ping(): Promise<{ version: string; apiVersion: string }>;
  imageExists(image: string): Promise<boolean>;
  /** An image's id and labels; null when it is not on this host. */
  imageInfo(image: string): Promise<{ id: string; labels: Record<string, string> } | null>;
  /** Builds an image from a Dockerfile whose FROM lines name images of this host. */
  buildImage(tag: string, dockerfile: string, timeoutMs: number): Promise<void>;
  /** Removes an image by id unless a container still uses it; whether it went. */
  removeImageIfUnused(id: string): Promise<boolean>;
  /** Removes the untagged images carrying a label (a build's middle stages) that no container uses; how many. */
  removeUntaggedImages(label: string): Promise<number>;
  /** Removes the one-off containers of a job label (a killed process leaves them); how many. */
  removeJobs(label: string): Promise<number>;
  pull(image: string): Promise<void>;
  /** The pg_settings of the server in an image (read once per image, cached in cacheDir). */
  settingsCatalog(image: string, cacheDir: string): Promise<PgSettingInfo[]>;

  /**
   * The image's template data directory on this host (dataTemplate.ts): initialised once per
   * image with the request's environment and files, made now when there is none.
   */
  dataTemplate(image: string, request: DataTemplateRequest): Promise<string>;

  /** Makes a service from its spec (the networks it joins first). */
  create(spec: ContainerSpec): Promise<void>;
  start(name: string): Promise<void>;
  stop(name: string, timeoutSec: number): Promise<void>;
  restart(name: string, timeoutSec: number): Promise<void>;
  /** Removes a service and what only it used; one that is gone already is fine. */
  remove(name: string): Promise<void>;
  /** Changes memory and CPU limits in place. */
  updateLimits(name: string, limits: { memory?: number; cpus?: number }): Promise<void>;

  /** One service's state in full, or null when it does not exist. */
  state(name: string): Promise<ServiceState | null>;
  /** Every service of this installation, or of one instance, in one call. */
  list(instanceId?: string): Promise<ServiceState[]>;
  logs(name: string, tail: number): Promise<string[]>;
  followLogs(name: string, tail: number): Promise<Readable>;
  /** One sample; `oneShot` answers at once (no CPU %), for counters and memory. */
  stats(name: string, options?: { oneShot?: boolean }): Promise<ResourceStats>;

  /**
   * Runs a command inside a running service (`docker exec`) as `user`, feeding it `stdin`, so that
   * what it needs never appears in an argument list or an environment; its exit code and its
   * output (stdout and stderr together), or OPERATION_FAILED after `timeoutMs`.
   */
  execute(name: string, command: ExecCommand): Promise<ExecResult>;

  /** Like execute, with a stream for stdin (gigabytes of dump) and its stderr apart from its stdout. */
  stream(name: string, command: StreamCommand): Promise<StreamResult>;

  /**
   * Runs a one-off container of an image without network to its exit, and removes it whatever
   * happened: its output when it exits 0, OPERATION_FAILED with its last lines otherwise.
   */
  runJob(image: string, job: JobSpec): Promise<string>;

  /** Removes a network no service uses any more; true when it did. */
  removeNetworkIfUnused(name: string): Promise<boolean>;
}
