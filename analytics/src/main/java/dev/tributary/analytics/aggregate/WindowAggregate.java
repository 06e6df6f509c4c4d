package dev.tributary.analytics.aggregate;

import java.util.Objects;

/**
 * One emitted window result. {@code revision} counts firings of the window: 1 when the watermark
 * passed its end, +1 for each late record within the allowed lateness (the item is overwritten).
 */
public final class WindowAggregate {
  public String entity;
  public String windowSize;
  public long windowStart;
  public long windowEnd;
  public long count;
  public double sum;
  public double min;
  public double max;
  public double mean;
  public double p95;
  public double p99;
  public int revision;
  /** Telemetry unit or currency of the values; {@code mixed} for several; null when unknown. */
  public String unit;

  public WindowAggregate() {}

  /** DynamoDB partition key: {@code <entity>#<windowSize>}. */
  public String pk() {
    return entity + "#" + windowSize;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof WindowAggregate w
        && entity.equals(w.entity)
        && windowSize.equals(w.windowSize)
        && windowStart == w.windowStart
        && windowEnd == w.windowEnd
        && count == w.count
        && Double.compare(sum, w.sum) == 0
        && Double.compare(min, w.min) == 0
        && Double.compare(max, w.max) == 0
        && Double.compare(mean, w.mean) == 0
        && Double.compare(p95, w.p95) == 0
        && Double.compare(p99, w.p99) == 0
        && revision == w.revision
        && Objects.equals(unit, w.unit);
  }

  @Override
  public int hashCode() {
    return Objects.hash(entity, windowSize, windowStart, revision);
  }

  @Override
  public String toString() {
    return String.format(
        "%s [%d,%d) n=%d sum=%s min=%s max=%s mean=%s p95=%s p99=%s rev=%d",
        pk(), windowStart, windowEnd, count, sum, min, max, mean, p95, p99, revision);
  }
}
