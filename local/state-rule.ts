/**
 * The local state rule as `npm start` says it, in --help and in the start banner: what --persist
 * keeps, and which status-line counters continue across starts and which count again. The windows
 * total is not carried over: the Flink job re-reads the kept stream at each start (locally it does
 * not restore its state), so the windows of what the stream still holds are computed and counted
 * again, and a carried-over total would count them twice.
 */

/** Counters of the status line that continue under --persist (they count what is kept). */
export const CONTINUING_COUNTERS = 'in, exported, alerts and lake continue';

/** What counts again from each start, even under --persist. */
export const RECOUNTED =
  "windows count again (the Flink job re-reads the kept stream and recounts its windows), as do the dashboard's per-consumer figures";

/** The state line of the start banner. */
export function stateBanner(persist: boolean, dataDir: string): string {
  return persist
    ? `state: kept in ${dataDir} (--persist): streams, alerts, aggregates, lake, agent logs and checkpoints continue from the last run; counters: ${CONTINUING_COUNTERS}; ${RECOUNTED}`
    : `state: fresh: ${dataDir} was emptied (lake, agent logs, checkpoints); alerts and aggregates in memory; every counter starts at 0. --persist keeps everything`;
}
