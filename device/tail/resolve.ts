/**
 * What became of a batch a tail checkpoint announced before its append, decided on restart from the
 * log (device/FORMAT.md "Tail checkpoint"). Pure: the caller reads the log from the batch's lowest
 * possible sequence and, when the file's bytes are still readable, re-creates the batch.
 */
import { batchDigest, type PendingBatch } from './checkpoint.ts';

export interface LoggedRecord {
  readonly sequence: number;
  readonly payload: Uint8Array;
}

export interface RecreatedRecord {
  readonly payload: Uint8Array;
  /** File offset just past the record: where the file resumes once it is in the log. */
  readonly end: number;
}

export interface Resolution {
  /** Where the file resumes. */
  readonly offset: number;
  /** How many of the batch's records the log holds (0, all, or a torn write's prefix). */
  readonly found: number;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/**
 * The whole batch (its digest over `count` consecutive records) → resume at `to`. Otherwise, when
 * a faithful re-creation of the batch is given (its digest matches the announced one), the longest
 * run of its first records in the log (a write torn by the crash keeps a prefix) → resume after
 * that run. Otherwise nothing of it is in the log → resume at `from`.
 */
export function resolvePending(
  from: number,
  pending: PendingBatch,
  logged: readonly LoggedRecord[],
  recreated?: readonly RecreatedRecord[],
): Resolution {
  const { count } = pending;
  for (let s = 0; s + count <= logged.length; s++) {
    if (batchDigest(logged.slice(s, s + count).map((r) => r.payload)) === pending.digest) {
      return { offset: pending.to, found: count };
    }
  }
  if (
    recreated === undefined ||
    recreated.length !== count ||
    batchDigest(recreated.map((r) => r.payload)) !== pending.digest
  ) {
    return { offset: from, found: 0 };
  }
  let best = 0;
  const first = recreated[0];
  if (first === undefined) return { offset: from, found: 0 };
  for (let s = 0; s < logged.length; s++) {
    if (!same((logged[s] as LoggedRecord).payload, first.payload)) continue;
    let k = 1;
    while (
      k < count &&
      s + k < logged.length &&
      same((logged[s + k] as LoggedRecord).payload, (recreated[k] as RecreatedRecord).payload)
    )
      k++;
    if (k > best) best = k;
  }
  return best === 0
    ? { offset: from, found: 0 }
    : { offset: (recreated[best - 1] as RecreatedRecord).end, found: best };
}
