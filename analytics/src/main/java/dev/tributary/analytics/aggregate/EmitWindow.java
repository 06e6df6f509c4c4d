package dev.tributary.analytics.aggregate;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;

/**
 * Turns a window's accumulator into a {@link WindowAggregate}, counting the window's firings (state,
 * the item's {@code revision}) and all firings of the operator (metric {@code windowsEmitted}).
 */
public final class EmitWindow extends ProcessWindowFunction<WindowAccumulator, WindowAggregate, String, TimeWindow> {
  private static final long serialVersionUID = 1L;
  private static final ValueStateDescriptor<Integer> FIRINGS = new ValueStateDescriptor<>("firings", Integer.class);

  private final String windowSize;
  private transient Counter emitted;

  public EmitWindow(String windowSize) {
    this.windowSize = windowSize;
  }

  @Override
  public void open(OpenContext openContext) {
    emitted = getRuntimeContext().getMetricGroup().counter("windowsEmitted");
  }

  @Override
  public void process(String entity, Context ctx, Iterable<WindowAccumulator> elements, Collector<WindowAggregate> out)
      throws Exception {
    WindowAccumulator acc = elements.iterator().next();
    ValueState<Integer> firings = ctx.windowState().getState(FIRINGS);
    int revision = firings.value() == null ? 1 : firings.value() + 1;
    firings.update(revision);
    if (emitted != null) emitted.inc();
    out.collect(toAggregate(entity, windowSize, ctx.window().getStart(), ctx.window().getEnd(), acc, revision));
  }

  @Override
  public void clear(Context ctx) {
    ctx.windowState().getState(FIRINGS).clear();
  }

  public static WindowAggregate toAggregate(
      String entity, String windowSize, long start, long end, WindowAccumulator acc, int revision) {
    WindowAggregate w = new WindowAggregate();
    w.entity = entity;
    w.windowSize = windowSize;
    w.windowStart = start;
    w.windowEnd = end;
    w.count = acc.count;
    w.sum = acc.sum;
    w.min = acc.min;
    w.max = acc.max;
    w.mean = acc.sum / acc.count;
    w.p95 = acc.quantile(0.95);
    w.p99 = acc.quantile(0.99);
    w.revision = revision;
    w.unit = acc.unit;
    return w;
  }
}
