/**
 * One stream manager connection: the connect handshake (connect version, protocol negotiation,
 * the auth token), then requests answered by request id. Requests of a connection run concurrently
 * (a ReadMessages may wait for messages) but start in arrival order, so appends keep their order.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { TributaryError } from '../../shared/errors.ts';
import {
  type FrameMalformedError,
  ResponseStatus,
  SmFailureError,
  StreamManagerError,
  UnknownOperationError,
} from './errors.ts';
import {
  appendRequest,
  connectRequest,
  createRequest,
  deleteRequest,
  describeRequest,
  listRequest,
  parseRequest,
  readRequest,
  requestIdOf,
  updateRequest,
} from './model.ts';
import {
  CONNECT_VERSION,
  decodeCbor,
  encodeMessage,
  type Frame,
  FrameDecoder,
  isOversized,
  negotiateProtocol,
  Operation,
  RESPONSE_OF,
  SUPPORTED_PROTOCOL_VERSIONS,
} from './protocol.ts';
import type { StreamManagerService } from './service.ts';

/** The agent's answer to `serverVersion`: the stream manager release whose protocol it speaks. */
export const SERVER_VERSION = '1.1.0';
/** The handshake must be done within this; an idle half-open client holds nothing longer. */
export const CONNECT_TIMEOUT_MILLIS = 10_000;
/** Requests of one connection in progress at once; past it the socket is not read. */
export const MAX_IN_FLIGHT_PER_CONNECTION = 64;
/** A request frame may be this much over api.maxBodyBytes: the request's map around its payload. */
export const SM_FRAME_OVERHEAD_BYTES = 64 * 1024;

export interface StreamManagerConnectionOptions {
  readonly service: StreamManagerService;
  /** The token clients must present (`AWS_CONTAINER_AUTHORIZATION_TOKEN`); null: no authentication. */
  readonly authToken: string | null;
  /** Largest request frame payload; larger ones are answered RequestPayloadTooLarge. */
  readonly maxFrameBytes: number;
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

function tokenMatches(expected: Buffer, given: string | null | undefined): boolean {
  return typeof given === 'string' && timingSafeEqual(expected, digest(given));
}

/** The map a refused request is answered with; the message names the field when one is at fault. */
function errorBody(requestId: string, error: unknown): Record<string, unknown> {
  if (error instanceof StreamManagerError) {
    return { requestId, status: error.status, errorMessage: error.message };
  }
  const message = error instanceof TributaryError ? error.message : 'internal error';
  return { requestId, status: ResponseStatus.UnknownFailure, errorMessage: message };
}

/**
 * The request id of a frame too large to hold: both SDKs write `requestId` as the first key of every
 * request map, so the head of the payload names it. Undefined when the head is not shaped so.
 */
export function requestIdFromHead(head: Uint8Array): string | undefined {
  const first = head[0];
  if (first === undefined || first >> 5 !== 5) return undefined;
  // Map header: the count's size follows the additional info (we need only to skip it).
  const info = first & 0x1f;
  let at = 1 + (info < 24 ? 0 : info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : -99);
  const text = (): string | undefined => {
    const b = head[at];
    if (b === undefined || b >> 5 !== 3) return undefined;
    const i = b & 0x1f;
    let length: number;
    if (i < 24) {
      length = i;
      at += 1;
    } else if (i === 24 && head[at + 1] !== undefined) {
      length = head[at + 1] as number;
      at += 2;
    } else return undefined;
    if (at + length > head.length) return undefined;
    const value = Buffer.from(head.subarray(at, at + length)).toString('utf8');
    at += length;
    return value;
  };
  if (at < 1 || text() !== 'requestId') return undefined;
  return text();
}

/** Serves one accepted socket whose first bytes (`head`) were already read. */
export function serveStreamManager(
  socket: Socket,
  head: Buffer,
  options: StreamManagerConnectionOptions,
): void {
  const expected = options.authToken === null ? undefined : digest(options.authToken);
  const decoder = new FrameDecoder({ maxFrameBytes: options.maxFrameBytes, expectConnectVersion: true });
  const abort = new AbortController();
  let connected = false;
  let inFlight = 0;
  let closed = false;
  const connectTimer = setTimeout(() => socket.destroy(), CONNECT_TIMEOUT_MILLIS);

  const send = (operation: number, body: unknown) => {
    if (!closed) socket.write(encodeMessage(operation, body));
  };
  const finish = () => {
    inFlight--;
    if (inFlight < MAX_IN_FLIGHT_PER_CONNECTION && socket.isPaused()) socket.resume();
  };
  const refuseConnect = (requestId: string | undefined, status: number, message: string) => {
    send(Operation.ConnectResponse, {
      ...(requestId === undefined ? {} : { requestId }),
      status,
      errorMessage: message,
    });
    socket.end();
    closed = true;
  };

  const connect = (frame: Frame) => {
    socket.write(Buffer.of(CONNECT_VERSION));
    if (decoder.connectVersion !== CONNECT_VERSION) {
      refuseConnect(
        undefined,
        ResponseStatus.UnsupportedConnectVersion,
        `connect version ${decoder.connectVersion} is not supported; this agent speaks ${CONNECT_VERSION}`,
      );
      return;
    }
    if (frame.operation !== Operation.Connect) {
      refuseConnect(
        undefined,
        ResponseStatus.UnexpectedOperation,
        `the first frame must be Connect (1), not ${frame.operation}`,
      );
      return;
    }
    let body: unknown;
    let request: ReturnType<typeof parseRequest<typeof connectRequest>>;
    try {
      body = decodeCbor(frame.payload);
      request = parseRequest(connectRequest, body);
    } catch (error) {
      refuseConnect(requestIdOf(body), ResponseStatus.InvalidRequest, (error as Error).message);
      return;
    }
    if (expected !== undefined && !tokenMatches(expected, request.authToken)) {
      refuseConnect(
        request.requestId,
        ResponseStatus.Unauthorized,
        request.authToken == null
          ? 'no authToken: set AWS_CONTAINER_AUTHORIZATION_TOKEN to the agent token (api.authTokenFile)'
          : 'authToken is not the agent token',
      );
      return;
    }
    const version = negotiateProtocol(request.protocolVersion, request.otherSupportedProtocolVersions ?? []);
    if (version === undefined) {
      refuseConnect(
        request.requestId,
        ResponseStatus.UnsupportedProtocolVersion,
        `none of the protocol versions ${JSON.stringify([request.protocolVersion, ...(request.otherSupportedProtocolVersions ?? [])])} is supported; this agent speaks ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')}`,
      );
      return;
    }
    clearTimeout(connectTimer);
    connected = true;
    send(Operation.ConnectResponse, {
      requestId: request.requestId,
      status: ResponseStatus.Success,
      protocolVersion: version,
      supportedProtocolVersions: [...SUPPORTED_PROTOCOL_VERSIONS],
      serverVersion: SERVER_VERSION,
      clientIdentifier: `${socket.remotePort ?? 0}`,
    });
  };

  const dispatch = async (operation: number, body: unknown): Promise<Record<string, unknown>> => {
    const service = options.service;
    switch (operation) {
      case Operation.CreateMessageStream:
        await service.create(parseRequest(createRequest, body).definition);
        return {};
      case Operation.UpdateMessageStream:
        await service.update(parseRequest(updateRequest, body).definition);
        return {};
      case Operation.DeleteMessageStream:
        await service.delete(parseRequest(deleteRequest, body).name);
        return {};
      case Operation.DescribeMessageStream:
        return { messageStreamInfo: service.describe(parseRequest(describeRequest, body).name) };
      case Operation.ListStreams:
        parseRequest(listRequest, body);
        return { streams: service.list() };
      case Operation.AppendMessage: {
        const request = parseRequest(appendRequest, body);
        return { sequenceNumber: await service.append(request.name, request.payload) };
      }
      case Operation.ReadMessages: {
        const request = parseRequest(readRequest, body);
        const messages = await service.read(
          request.streamName,
          request.readMessagesOptions ?? {},
          abort.signal,
        );
        return { messages };
      }
      default:
        throw new UnknownOperationError(operation);
    }
  };

  const request = (frame: Frame) => {
    let body: unknown;
    try {
      body = decodeCbor(frame.payload);
    } catch (error) {
      // No request id to answer to: the stream cannot be trusted any more.
      socket.destroy(error as Error);
      return;
    }
    const requestId = requestIdOf(body) ?? '';
    const responseOp = RESPONSE_OF[frame.operation] ?? Operation.UnknownOperationError;
    inFlight++;
    if (inFlight >= MAX_IN_FLIGHT_PER_CONNECTION) socket.pause();
    dispatch(frame.operation, body)
      .then(
        (result) => send(responseOp, { requestId, status: ResponseStatus.Success, ...result }),
        (error: unknown) => {
          if (!(error instanceof StreamManagerError) && !(error instanceof TributaryError)) {
            // A bug, not bad input: answered, and the message does not leak internals.
            process.emitWarning(`stream manager request ${frame.operation} failed: ${String(error)}`);
          }
          send(responseOp, errorBody(requestId, error));
        },
      )
      .finally(finish);
  };

  const onData = (chunk: Buffer) => {
    let frames: ReturnType<FrameDecoder['push']>;
    try {
      frames = decoder.push(chunk);
    } catch (error) {
      if (!connected) refuseConnect(undefined, ResponseStatus.InvalidRequest, (error as Error).message);
      else socket.destroy(error as FrameMalformedError);
      return;
    }
    for (const frame of frames) {
      if (closed) return;
      if (isOversized(frame)) {
        const responseOp = RESPONSE_OF[frame.operation] ?? Operation.UnknownOperationError;
        const requestId = requestIdFromHead(frame.head);
        if (!connected || requestId === undefined) {
          socket.destroy();
          closed = true;
          return;
        }
        send(responseOp, {
          requestId,
          status: ResponseStatus.RequestPayloadTooLarge,
          errorMessage: `request of ${frame.oversized} bytes is over this agent's ${options.maxFrameBytes}-byte limit (api.maxBodyBytes + 64 KiB)`,
        });
        continue;
      }
      if (!connected) connect(frame);
      else request(frame);
    }
  };

  // Answers go out as they finish: with Nagle, a second answer would wait for the client's delayed ACK.
  socket.setNoDelay(true);
  socket.on('data', onData);
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
    clearTimeout(connectTimer);
    // A ReadMessages waiting for messages stops waiting.
    abort.abort(new SmFailureError('connection closed', undefined));
  });
  if (head.length > 0) onData(head);
}

export interface StreamManagerListener {
  readonly port: number;
  /** Stops accepting and closes the open connections (SDK clients reconnect to a restarted agent). */
  close(): Promise<void>;
}

/**
 * A port of stream manager's protocol alone (`api.streamManagerPort`), on 127.0.0.1: a connection
 * whose first byte is not the connect version is closed, as stream manager would close it.
 */
export async function listenStreamManager(
  port: number,
  host: string,
  options: StreamManagerConnectionOptions,
): Promise<StreamManagerListener> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.setTimeout(CONNECT_TIMEOUT_MILLIS, () => socket.destroy());
    socket.once('data', (head: Buffer) => {
      socket.setTimeout(0);
      if (head[0] !== CONNECT_VERSION) {
        socket.destroy();
        return;
      }
      socket.pause();
      serveStreamManager(socket, head, options);
      socket.resume();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const socket of sockets) socket.destroy();
        server.close((error) => (error === undefined ? resolve() : reject(error)));
      }),
  };
}
