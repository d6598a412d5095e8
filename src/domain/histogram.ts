/**
 * A fixed-bucket histogram with Prometheus semantics (cumulative `le` buckets, sum, count).
 * Kept in the domain layer because the engine observes poll durations and the API observes
 * request latency, and /metrics renders both without either depending on the other.
 */
export class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly buckets: readonly number[]) {
    this.counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/**
 * Buckets for scheduler command durations in seconds: a healthy squeue answers in tens of
 * milliseconds; a busy slurmctld in seconds; the command timeout caps the top.
 */
export const COMMAND_SECONDS_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
