import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiClient } from '../../device/api/client.ts';
import { ApiRequestError } from '../../device/errors.ts';
import type { TributaryRecord } from '../../shared/contract/index.ts';
import { FLEET_STREAMS } from './agent.ts';
import { FleetRecordRefusedError } from './errors.ts';
import type { FleetScenario } from './scenario.ts';

/** Records per append request: the CLI's batch size, well under the agent's body limit. */
const APPEND_BATCH_RECORDS = 500;
const TICK_MS = 250;
/** Simulated time generated per step at most. */
const MAX_STEP_MS = 2_000;
const MAX_RETRY_DELAY_MS = 5_000;

export interface PublisherTarget {
  readonly name: string;
  readonly client: ApiClient;
}

export interface PublishedBatch {
  readonly agent: string;
  readonly stream: string;
  readonly records: readonly TributaryRecord[];
  /** Wall-clock ms when the agent acknowledged the batch as durable. */
  readonly acknowledgedAt: number;
}

export interface PublisherStats {
  readonly generated: number;
  readonly published: number;
  readonly refused: number;
  readonly retries: number;
  readonly lastError: string | undefined;
}

export interface PublisherOptions {
  readonly scenario: FleetScenario;
  readonly agents: readonly PublisherTarget[];
  /** Simulated ms per wall-clock ms. */
  readonly timeScale: number;
  /** The gateways' log files, written up to the scenario's time at each step (the agents tail them). */
  readonly logFiles?: { advanceTo(until: number): Promise<void> };
  /** Called after each acknowledged batch (tests and benchmarks collect what was published). */
  readonly onPublished?: (batch: PublishedBatch) => void;
  readonly onError?: (error: Error) => void;
}

/**
 * Drives the scenario with the wall clock and appends its records to the device agents over their
 * HTTP API, in event-time order per stream. A record counts as published only once the agent
 * acknowledged it (durable in its log). Busy or unreachable agents are retried with the same records
 * until they answer or the publisher stops; records the agent refuses as invalid are counted and
 * reported, never retried.
 */
export class FleetPublisher {
  readonly #options: PublisherOptions;
  #wallStart = Date.now();
  #simStart: number;
  #timeScale: number;
  #stopped = false;
  #generated = 0;
  #published = 0;
  #refused = 0;
  #retries = 0;
  #lastError: string | undefined;
  readonly done: Promise<void>;

  constructor(options: PublisherOptions) {
    this.#options = options;
    this.#simStart = options.scenario.now;
    this.#timeScale = options.timeScale;
    this.done = this.#run();
  }

  stats(): PublisherStats {
    return {
      generated: this.#generated,
      published: this.#published,
      refused: this.#refused,
      retries: this.#retries,
      lastError: this.#lastError,
    };
  }

  /** Stops generating; resolves once the batches in flight are acknowledged or given up. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.done;
  }

  /** Changes the pace from now on (benchmarks step the offered load this way). */
  setTimeScale(timeScale: number): void {
    this.#simStart = this.#clock();
    this.#wallStart = Date.now();
    this.#timeScale = timeScale;
  }

  #clock(): number {
    const { scenario } = this.#options;
    const target = this.#simStart + (Date.now() - this.#wallStart) * this.#timeScale;
    const end = scenario.options.endTime;
    return end === undefined ? target : Math.min(target, end);
  }

  async #run(): Promise<void> {
    const { scenario } = this.#options;
    while (!this.#stopped) {
      // A fleet running behind its clock catches up in bounded steps: memory stays flat.
      const target = Math.min(this.#clock(), scenario.now + MAX_STEP_MS);
      const records = scenario.advanceTo(target);
      this.#generated += records.length;
      // A failed write loses only its own lines (they are not counted as written); the fleet goes on.
      await this.#options.logFiles
        ?.advanceTo(scenario.now)
        .catch((error: unknown) => this.#report(error as Error));
      if (records.length > 0) await this.#publish(records);
      const end = scenario.options.endTime;
      if (end !== undefined && scenario.now >= end) return;
      if (this.#clock() - scenario.now < MAX_STEP_MS) await sleep(TICK_MS);
    }
  }

  async #publish(records: readonly TributaryRecord[]): Promise<void> {
    const { agents } = this.#options;
    const groups = new Map<string, { agent: PublisherTarget; stream: string; records: TributaryRecord[] }>();
    for (const record of records) {
      const agent = agents[agentIndex(record.device_id, agents.length)] as PublisherTarget;
      const stream = FLEET_STREAMS[record.type];
      const key = `${agent.name}\0${stream}`;
      const group = groups.get(key) ?? { agent, stream, records: [] };
      groups.set(key, group);
      group.records.push(record);
    }
    // Streams go in parallel; within one stream batches go in order, so per-device order holds.
    await Promise.all(
      [...groups.values()].map(async ({ agent, stream, records: items }) => {
        for (let start = 0; start < items.length; start += APPEND_BATCH_RECORDS) {
          await this.#append(agent, stream, items.slice(start, start + APPEND_BATCH_RECORDS));
        }
      }),
    );
  }

  async #append(agent: PublisherTarget, stream: string, records: TributaryRecord[]): Promise<void> {
    const ndjson = records.map((r) => JSON.stringify(r)).join('\n');
    for (let attempt = 0; ; attempt++) {
      try {
        await agent.client.appendNdjson(stream, ndjson);
        this.#published += records.length;
        this.#options.onPublished?.({ agent: agent.name, stream, records, acknowledgedAt: Date.now() });
        return;
      } catch (error) {
        if (error instanceof ApiRequestError && error.status < 500 && !error.retryable) {
          this.#refused += records.length;
          this.#report(new FleetRecordRefusedError(stream, error.message, { cause: error }));
          return;
        }
        this.#report(error as Error);
        // Once stopping, unacknowledged records are left unpublished (they count as generated only):
        // a full or unreachable agent must not hold the shutdown.
        if (this.#stopped) return;
        this.#retries++;
        const hinted = error instanceof ApiRequestError ? error.retryAfterSeconds : undefined;
        await sleep(hinted === undefined ? Math.min(MAX_RETRY_DELAY_MS, 100 * 2 ** attempt) : hinted * 1000);
      }
    }
  }

  #report(error: Error): void {
    this.#lastError = `${error.name}: ${error.message}`;
    this.#options.onError?.(error);
  }
}

/** A device always goes through the same gateway, so its records stay in order. */
export function agentIndex(deviceId: string, agents: number): number {
  let hash = 0;
  for (let i = 0; i < deviceId.length; i++) hash = (Math.imul(hash, 31) + deviceId.charCodeAt(i)) | 0;
  return Math.abs(hash) % agents;
}
