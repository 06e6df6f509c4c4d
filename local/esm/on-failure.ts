import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * What Lambda sends to a Kinesis mapping's on-failure destination when it gives up on a batch:
 * metadata only (shard and sequence range), from which the records can be re-read while retained.
 */
export interface OnFailureRecord {
  requestContext: {
    requestId: string;
    functionArn: string;
    condition: 'RetryAttemptsExhausted' | 'RecordAgeExceeded';
    approximateInvokeCount: number;
  };
  responseContext: { statusCode: number; executedVersion: string; functionError: string };
  version: '1.0';
  timestamp: string;
  KinesisBatchInfo: {
    shardId: string;
    startSequenceNumber: string;
    endSequenceNumber: string;
    approximateArrivalOfFirstRecord: string;
    approximateArrivalOfLastRecord: string;
    batchSize: number;
    streamArn: string;
  };
}

/**
 * The local stand-in for the SQS on-failure destination (there is no local SQS): one JSON document
 * per line in a file under the runner's data dir, e.g. .tributary/esm/alerts/on-failure.jsonl.
 */
export class FileOnFailureDestination {
  readonly path: string;
  #ready: Promise<unknown> | undefined;

  constructor(path: string) {
    this.path = path;
  }

  async send(record: OnFailureRecord): Promise<void> {
    this.#ready ??= mkdir(dirname(this.path), { recursive: true });
    await this.#ready;
    await appendFile(this.path, `${JSON.stringify(record)}\n`);
  }
}

/** Reads back what a FileOnFailureDestination wrote (empty when nothing failed yet). */
export async function readOnFailureRecords(path: string): Promise<OnFailureRecord[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as OnFailureRecord);
}
