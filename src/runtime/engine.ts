import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough, Writable, type Duplex, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DbaasError } from '../errors.js';
import Dockerode from 'dockerode';
import { lockPath } from '../fileLock.js';
import type { PgSettingInfo } from '../instances/pgParameters.js';
import type { ContainerSpec } from './composeSpec.js';
import { demuxBuffer, engineError, statusOf, StdoutDemux, TailBuffer } from './dockerWire.js';
import { PURPOSE_LABEL, resolveImageId, runThrowaway } from './throwaway.js';
import { fromInspect, fromListRow, fromStats } from './dockerState.js';
import { homeFilter, LABELS } from './labels.js';
import { readSettingsCatalog } from './pgSettingsCatalog.js';
import { ensureDataTemplate, type DataTemplateRequest } from './dataTemplate.js';
import type { ExecCommand, ExecResult, InstanceEngine, JobSpec, ResourceStats, ServiceState, StreamCommand, StreamResult } from './workload.js';

/**
 * The single-host Docker engine, through dockerode, behind dbaas's engine seam (workload.ts).
 * It is scoped to one dbaas home: listings see only that home's containers (by label). Every
 * engine failure becomes a typed error here: an unreachable socket is ENGINE_UNAVAILABLE, an
 * unknown container is `null`, so callers never parse engine messages themselves.
 */
export class DockerEngine implements InstanceEngine {
  private readonly docker: Dockerode;

  constructor(
    readonly socketPath: string,
    /** The dbaas home whose containers this engine lists. */
    private readonly home: string,
  ) {
    this.docker = new Dockerode({ socketPath, timeout: 120_000 });
  }

  async ping(): Promise<{ version: string; apiVersion: string }> {
    try {
      const v = await this.docker.version();
      return { version: v.Version, apiVersion: v.ApiVersion };
    } catch (err) {
      throw engineError(err, 'answer a ping');
    }
  }

  async imageExists(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw engineError(err, `inspect image ${image}`);
    }
  }

  /** An image's id and labels; null when it is not on this host. */
  async imageInfo(image: string): Promise<{ id: string; labels: Record<string, string> } | null> {
    try {
      const info = await this.docker.getImage(image).inspect();
      return { id: info.Id, labels: (info.Config?.Labels as Record<string, string> | null) ?? {} };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw engineError(err, `inspect image ${image}`);
    }
  }

  /**
   * Builds `tag` from a Dockerfile alone (no other context): its FROM lines name images of this
   * host, so nothing is pulled. Resolves when the build ends; rejects with the builder's reason.
   */
  async buildImage(tag: string, dockerfile: string, timeoutMs: number): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'dbaas-build-'));
    try {
      writeFileSync(join(dir, 'Dockerfile'), dockerfile);
      const stream = await this.docker.buildImage({ context: dir, src: ['Dockerfile'] }, { t: tag, rm: true, forcerm: true, pull: false });
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => reject(new DbaasError('OPERATION_FAILED', `building ${tag} took longer than ${timeoutMs / 1000} s`)), timeoutMs);
        this.docker.modem.followProgress(stream, (err: Error | null, output: Array<{ error?: string; stream?: string }>) => {
          const failed = output?.find((o) => o.error);
          if (err || failed) {
            const said = (output ?? []).map((o) => o.stream ?? '').join('').trim().split('\n').slice(-5).join(' | ');
            reject(new DbaasError('OPERATION_FAILED', `building ${tag} failed: ${failed?.error ?? err?.message}${said ? ` (${said})` : ''}`));
          } else resolve();
        });
      }).finally(() => clearTimeout(timer));
    } catch (err) {
      if (err instanceof DbaasError) throw err;
      throw engineError(err, `build ${tag}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  async removeImageIfUnused(id: string): Promise<boolean> {
    try {
      // Without force: the engine refuses (409) while a container uses it, which is the answer.
      await this.docker.getImage(id).remove();
      return true;
    } catch (err) {
      if (statusOf(err) === 409 || statusOf(err) === 404) return false;
      throw engineError(err, `remove image ${id}`);
    }
  }

  async removeUntaggedImages(label: string): Promise<number> {
    let images: Dockerode.ImageInfo[];
    try {
      images = await this.docker.listImages({ filters: { label: [label], dangling: ['true'] } });
    } catch (err) {
      throw engineError(err, `list the images labelled ${label}`);
    }
    let removed = 0;
    for (const image of images) if (await this.removeImageIfUnused(image.Id)) removed++;
    return removed;
  }

  /** Removes the one-off containers of a label (left running by a process that died); how many. */
  async removeJobs(label: string): Promise<number> {
    try {
      const rows = await this.docker.listContainers({ all: true, filters: { label: [`${LABELS.managed}=true`, `${PURPOSE_LABEL}=${label}`] } });
      for (const row of rows) await this.docker.getContainer(row.Id).remove({ force: true, v: true }).catch(() => undefined);
      return rows.length;
    } catch (err) {
      throw engineError(err, `remove the containers labelled ${label}`);
    }
  }

  /** Pulls an image; resolves when the pull stream ends, rejects with the registry's reason. */
  async pull(image: string): Promise<void> {
    try {
      const stream = await this.docker.pull(image);
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(stream, (err: Error | null, output: Array<{ error?: string }>) => {
          const failed = output?.find((o) => o.error);
          if (err) reject(err);
          else if (failed) reject(new Error(failed.error));
          else resolve();
        });
      });
    } catch (err) {
      throw engineError(err, `pull ${image}`);
    }
  }

  settingsCatalog(image: string, cacheDir: string): Promise<PgSettingInfo[]> {
    return readSettingsCatalog(this.docker, image, cacheDir);
  }

  dataTemplate(image: string, request: DataTemplateRequest): Promise<string> {
    return ensureDataTemplate(this.docker, image, request);
  }

  /** Starts a command in a running container; its exec (for the exit code) and its raw multiplexed stream. */
  private async openExec(name: string, command: { argv: string[]; user?: string }, withInput: boolean): Promise<{ exec: Dockerode.Exec; raw: Duplex }> {
    try {
      const exec = await this.docker.getContainer(name).exec({
        Cmd: command.argv,
        User: command.user ?? '',
        AttachStdin: withInput,
        AttachStdout: true,
        AttachStderr: true,
      });
      const raw = (await exec.start({ hijack: true, stdin: withInput })) as unknown as Duplex;
      return { exec, raw };
    } catch (err) {
      throw engineError(err, `run ${command.argv[0]} in ${name}`);
    }
  }

  async execute(name: string, command: ExecCommand): Promise<ExecResult> {
    const { exec, raw: stream } = await this.openExec(name, command, command.stdin !== undefined);
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => {
          stream.destroy();
          reject(new Error(`took longer than ${command.timeoutMs / 1000} s`));
        }, command.timeoutMs);
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', reject);
        // Ending our side closes the command's stdin; its output keeps coming until it exits.
        if (command.stdin !== undefined) stream.end(command.stdin);
      });
      const info = await exec.inspect();
      return { exitCode: info.ExitCode ?? -1, output: demuxBuffer(Buffer.concat(chunks)) };
    } catch (err) {
      throw engineError(err, `run ${command.argv[0]} in ${name}`);
    } finally {
      clearTimeout(timer);
    }
  }

  async stream(name: string, command: StreamCommand): Promise<StreamResult> {
    const { exec, raw } = await this.openExec(name, command, command.stdin !== undefined);
    const stderr = new TailBuffer(64 * 1024);
    const stdoutText = new TailBuffer(64 * 1024);
    const demux = new StdoutDemux((chunk) => stderr.add(chunk));
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        stdoutText.add(chunk);
        done();
      },
    });
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`took longer than ${command.timeoutMs / 1000} s`)), command.timeoutMs);
    const onAbort = () => controller.abort(command.signal?.reason ?? new Error('cancelled'));
    command.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      // pipe(), not pipeline(): ending the input half-closes the engine's socket (the command
      // sees the end of its stdin) while its output keeps coming; pipeline would destroy it.
      // A command that exits before its input ended (a failing pg_restore) closes the socket:
      // the feeding ends there too (a pipe into a closed socket stops and never sees the end).
      const feeding = new Promise<void>((resolve, reject) => {
        const input = command.stdin;
        if (!input) return resolve();
        input.once('error', reject);
        input.once('end', resolve);
        raw.once('close', () => {
          input.unpipe(raw);
          resolve();
        });
        input.pipe(raw);
      });
      // The engine's stream ends when the command exits; a half-closed input does not end it.
      await Promise.all([pipeline(raw, demux, sink, { signal: controller.signal }), feeding]);
      const info = await exec.inspect();
      return { exitCode: info.ExitCode ?? -1, output: stdoutText.text(), stderr: stderr.text() };
    } catch (err) {
      raw.destroy();
      if (controller.signal.aborted) {
        throw new DbaasError('OPERATION_FAILED', `${command.argv[0]} in ${name} was stopped: ${(controller.signal.reason as Error).message}`);
      }
      throw engineError(err, `run ${command.argv[0]} in ${name}`);
    } finally {
      clearTimeout(timer);
      command.signal?.removeEventListener('abort', onAbort);
    }
  }

  async runJob(image: string, job: JobSpec): Promise<string> {
    const imageId = await resolveImageId(this.docker, image);
    return runThrowaway(this.docker, {
      imageId,
      purpose: job.purpose,
      label: job.label,
      entrypoint: job.argv,
      user: job.user ?? 'root',
      binds: job.mounts.map((m) => `${m.host}:${m.container}${m.readOnly ? ':ro' : ''}`),
      ...(job.memory !== undefined ? { memory: job.memory } : {}),
      timeoutMs: job.timeoutMs,
    });
  }

  /** Network creations of this process, one at a time per name (see ensureNetwork). */
  private readonly networkWork = new Map<string, Promise<void>>();

  /**
   * Makes a bridge network unless it exists. The engine does not refuse a second network of the
   * same name (two concurrent creates made two, and then every container naming it failed as
   * "ambiguous"), so creations are serialised: within this process per name, and across the
   * processes of this home by a lock file. Duplicates left by older versions are removed (the
   * oldest one stays) when no container uses them. Networks outlive engine restarts, so this
   * does real work once per installation.
   */
  private ensureNetwork(name: string, labels: Record<string, string>): Promise<void> {
    const previous = this.networkWork.get(name) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.withNetworkLock(() => this.ensureNetworkLocked(name, labels)));
    this.networkWork.set(name, next);
    return next;
  }

  private async withNetworkLock<T>(work: () => Promise<T>): Promise<T> {
    const target = join(this.home, 'config', 'networks');
    mkdirSync(dirname(target), { recursive: true });
    const release = await lockPath(target);
    try {
      return await work();
    } finally {
      await release().catch(() => undefined);
    }
  }

  private async ensureNetworkLocked(name: string, labels: Record<string, string>): Promise<void> {
    let same: Dockerode.NetworkInspectInfo[];
    try {
      // The name filter matches parts of names: keep the exact ones, oldest first.
      same = (await this.docker.listNetworks({ filters: { name: [name] } }))
        .filter((n) => n.Name === name)
        .sort((a, b) => a.Created.localeCompare(b.Created) || a.Id.localeCompare(b.Id));
    } catch (err) {
      throw engineError(err, `list networks named ${name}`);
    }
    if (same.length === 0) {
      try {
        await this.docker.createNetwork({ Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: labels });
      } catch (err) {
        if (statusOf(err) !== 409) throw engineError(err, `create network ${name}`);
      }
      return;
    }
    for (const extra of same.slice(1)) await this.removeNetworkIfUnused(extra.Id);
  }

  async removeNetworkIfUnused(name: string): Promise<boolean> {
    try {
      const info = (await this.docker.getNetwork(name).inspect()) as { Containers?: Record<string, unknown> };
      if (Object.keys(info.Containers ?? {}).length > 0) return false;
      await this.docker.getNetwork(name).remove();
      return true;
    } catch (err) {
      const status = statusOf(err);
      if (status === 404 || status === 403 || status === 409) return false;
      throw engineError(err, `remove network ${name}`);
    }
  }

  async create(spec: ContainerSpec): Promise<void> {
    const labels = spec.options.Labels ?? {};
    const owner = Object.fromEntries(Object.entries(labels).filter(([key]) => key === LABELS.managed || key === LABELS.home));
    for (const network of spec.networks) await this.ensureNetwork(network, owner);
    try {
      await this.docker.createContainer(spec.options);
    } catch (err) {
      throw engineError(err, `create container ${spec.name}`);
    }
  }

  async start(name: string): Promise<void> {
    try {
      await this.docker.getContainer(name).start();
    } catch (err) {
      if (statusOf(err) === 304) return; // already running
      throw engineError(err, `start ${name}`);
    }
  }

  async stop(name: string, timeoutSec: number): Promise<void> {
    try {
      await this.docker.getContainer(name).stop({ t: timeoutSec });
    } catch (err) {
      const status = statusOf(err);
      if (status === 304 || status === 404) return; // already stopped, or gone
      throw engineError(err, `stop ${name}`);
    }
  }

  async restart(name: string, timeoutSec: number): Promise<void> {
    try {
      await this.docker.getContainer(name).restart({ t: timeoutSec });
    } catch (err) {
      throw engineError(err, `restart ${name}`);
    }
  }

  /** Removes a container and its anonymous volumes; a container that is already gone is fine. */
  async remove(name: string): Promise<void> {
    try {
      await this.docker.getContainer(name).remove({ force: true, v: true });
    } catch (err) {
      if (statusOf(err) === 404) return;
      throw engineError(err, `remove ${name}`);
    }
  }

  async state(name: string): Promise<ServiceState | null> {
    try {
      return fromInspect(await this.docker.getContainer(name).inspect());
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw engineError(err, `inspect ${name}`);
    }
  }

  /** This home's containers, or one instance's, in one engine call (a label filter). */
  async list(instanceId?: string): Promise<ServiceState[]> {
    const label = [...homeFilter(this.home), ...(instanceId ? [`${LABELS.instance}=${instanceId}`] : [])];
    try {
      const rows = await this.docker.listContainers({ all: true, filters: { label } });
      return rows.map(fromListRow);
    } catch (err) {
      throw engineError(err, 'list containers');
    }
  }

  /** Changes memory and CPU limits of a container in place (`docker update`). */
  async updateLimits(name: string, limits: { memory?: number; cpus?: number }): Promise<void> {
    const body: Record<string, number> = {};
    if (limits.memory !== undefined) {
      body.Memory = limits.memory;
      body.MemorySwap = limits.memory; // no swap, as at create
    }
    if (limits.cpus !== undefined) body.NanoCpus = Math.round(limits.cpus * 1e9);
    try {
      await this.docker.getContainer(name).update(body);
    } catch (err) {
      throw engineError(err, `update the limits of ${name}`);
    }
  }

  /** The last lines of a container's output, stdout and stderr interleaved as written. */
  async logs(name: string, tail: number, timestamps = false): Promise<string[]> {
    try {
      const buffer = (await this.docker
        .getContainer(name)
        .logs({ stdout: true, stderr: true, tail, timestamps, follow: false })) as unknown as Buffer;
      return demuxBuffer(buffer)
        .split('\n')
        .filter((line, i, all) => line !== '' || i < all.length - 1);
    } catch (err) {
      if (statusOf(err) === 404) return [];
      throw engineError(err, `read the logs of ${name}`);
    }
  }

  /** A live stream of a container's output (stdout and stderr merged), for `logs --follow`. */
  async followLogs(name: string, tail: number): Promise<Readable> {
    try {
      const raw = (await this.docker
        .getContainer(name)
        .logs({ stdout: true, stderr: true, tail, follow: true })) as unknown as Readable;
      const out = new PassThrough();
      this.docker.modem.demuxStream(raw, out, out);
      raw.on('end', () => out.end());
      out.on('close', () => raw.destroy());
      return out;
    } catch (err) {
      throw engineError(err, `follow the logs of ${name}`);
    }
  }

  /**
   * One stats sample. The default waits for a second sample (about a second) so that CPU % can be
   * computed; `oneShot` answers at once, for callers that only need counters and memory.
   */
  async stats(name: string, options: { oneShot?: boolean } = {}): Promise<ResourceStats> {
    let s: Dockerode.ContainerStats;
    try {
      const query = options.oneShot ? { stream: false, 'one-shot': true } : { stream: false };
      s = await this.docker.getContainer(name).stats(query as { stream: false });
    } catch (err) {
      throw engineError(err, `read the stats of ${name}`);
    }
    return fromStats(s);
  }
}
