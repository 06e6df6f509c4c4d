package dev.tributary.analytics.aggregate;

import org.apache.flink.api.common.functions.AggregateFunction;

/** Incremental window aggregation: one accumulator per (entity, window), O(1) state per value. */
public final class StatsAggregate implements AggregateFunction<Observation, WindowAccumulator, WindowAccumulator> {
  private static final long serialVersionUID = 1L;

  @Override
  public WindowAccumulator createAccumulator() {
    return new WindowAccumulator();
  }

  @Override
  public WindowAccumulator add(Observation value, WindowAccumulator acc) {
    acc.add(value.value, value.unit);
    return acc;
  }

  @Override
  public WindowAccumulator getResult(WindowAccumulator acc) {
    return acc;
  }

  @Override
  public WindowAccumulator merge(WindowAccumulator a, WindowAccumulator b) {
    return a.merge(b);
  }
}
