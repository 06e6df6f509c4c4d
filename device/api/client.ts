/** A small typed client of the agent's local API (used by the CLI). */
import type { AgentStatus, StreamStatus } from '../agent.ts';
import { AgentUnreachableError, ApiRequestError } from '../errors.ts';
import type { AppendResponse, ErrorBody } from './server.ts';

export interface ApiClientOptions {
  /** e.g. http://127.0.0.1:8088 */
  readonly url: string;
  readonly token?: string;
  readonly timeoutMillis?: number;
  /** The discovery file the URL came from, named when no agent answers there. */
  readonly source?: string;
}

export class ApiClient {
  readonly #url: string;
  readonly #token: string | undefined;
  readonly #timeout: number;
  readonly #source: string | undefined;

  constructor(options: ApiClientOptions) {
    this.#url = options.url.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeout = options.timeoutMillis ?? 30_000;
    this.#source = options.source;
  }

  async #request<T>(
    method: string,
    path: string,
    body?: { type: string; data: string | Uint8Array },
  ): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers['content-type'] = body.type;
    let response: Response;
    try {
      response = await fetch(`${this.#url}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: body.data }),
        signal: AbortSignal.timeout(this.#timeout),
      });
    } catch (error) {
      throw new AgentUnreachableError(this.#url, (error as Error).cause ?? error, this.#source);
    }
    const text = await response.text();
    if (response.ok) return JSON.parse(text) as T;
    let parsed: Partial<ErrorBody> = {};
    try {
      parsed = JSON.parse(text) as Partial<ErrorBody>;
    } catch {
      // Not our JSON error body (a proxy, another program on the port): report the status.
    }
    const retryAfter = Number(response.headers.get('retry-after'));
    throw new ApiRequestError(
      response.status,
      parsed.code ?? `HTTP_${response.status}`,
      parsed.message ?? (text.slice(0, 200) || response.statusText),
      {
        path: parsed.path,
        ...(parsed.index === undefined ? {} : { index: parsed.index }),
        ...(Array.isArray(parsed.issues) ? { issues: parsed.issues } : {}),
        ...(Array.isArray(parsed.records) ? { records: parsed.records } : {}),
        ...(typeof parsed.recordsRefused === 'number' ? { recordsRefused: parsed.recordsRefused } : {}),
        retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
      },
    );
  }

  static #streamPath(stream: string): string {
    return `/v1/streams/${encodeURIComponent(stream)}`;
  }

  /** Appends one record (JSON) or several (NDJSON, all or none). */
  append(stream: string, records: readonly unknown[]): Promise<AppendResponse> {
    const path = `${ApiClient.#streamPath(stream)}/records`;
    if (records.length === 1) {
      return this.#request('POST', path, { type: 'application/json', data: JSON.stringify(records[0]) });
    }
    return this.appendNdjson(stream, records.map((r) => JSON.stringify(r)).join('\n'));
  }

  /** Appends NDJSON text or bytes as they are (one record per line, all or none). */
  appendNdjson(stream: string, ndjson: string | Uint8Array): Promise<AppendResponse> {
    return this.#request('POST', `${ApiClient.#streamPath(stream)}/records`, {
      type: 'application/x-ndjson',
      data: ndjson,
    });
  }

  async streams(): Promise<StreamStatus[]> {
    return (await this.#request<{ streams: StreamStatus[] }>('GET', '/v1/streams')).streams;
  }

  stream(name: string): Promise<StreamStatus> {
    return this.#request('GET', ApiClient.#streamPath(name));
  }

  status(): Promise<AgentStatus> {
    return this.#request('GET', '/v1/status');
  }
}
