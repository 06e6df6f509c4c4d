package dev.tributary.analytics;

import com.datadoghq.sketch.ddsketch.DDSketch;
import dev.tributary.analytics.aggregate.DDSketchKryoSerializer;
import dev.tributary.analytics.aggregate.EmitWindow;
import dev.tributary.analytics.aggregate.Keys;
import dev.tributary.analytics.aggregate.LateObservation;
import dev.tributary.analytics.aggregate.Observation;
import dev.tributary.analytics.aggregate.StatsAggregate;
import dev.tributary.analytics.aggregate.WindowAggregate;
import dev.tributary.analytics.contract.ContractException;
import dev.tributary.analytics.contract.ContractParser;
import dev.tributary.analytics.contract.ContractRecord;
import java.time.Duration;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.streaming.api.windowing.assigners.SlidingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.WindowAssigner;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * The job's topology without source and sinks: user records (bytes) → contract → observations per
 * series → event-time windows (1 min tumbling, 5 min sliding every 1 min) with allowed lateness →
 * aggregates; records past the lateness go to a late stream, bad records to an invalid stream. Both
 * are counted (metrics {@code recordsInvalid}, {@code lateRecords}) and kept.
 */
public final class AggregatesPipeline {
  public static final String TUMBLING = "1m";
  public static final String SLIDING = "5m";

  public static final OutputTag<String> INVALID = new OutputTag<>("invalid") {};
  private static final OutputTag<Observation> LATE_TUMBLING = new OutputTag<>("late-1m") {};
  private static final OutputTag<Observation> LATE_SLIDING = new OutputTag<>("late-5m") {};

  public record Outputs(
      DataStream<WindowAggregate> aggregates, DataStream<LateObservation> late, DataStream<String> invalid) {}

  private AggregatesPipeline() {}

  /** Serializers the pipeline's state needs; call once per environment. */
  @SuppressWarnings("deprecation")
  public static void configure(StreamExecutionEnvironment env) {
    env.getConfig().registerTypeWithKryoSerializer(DDSketch.class, DDSketchKryoSerializer.class);
  }

  /**
   * @param watermarkPerEvent emit a watermark as soon as an event advances it (tests: lateness then
   *     depends only on the input order) instead of on Flink's periodic interval (production).
   */
  public static Outputs build(DataStream<byte[]> userRecords, JobConfig config, boolean watermarkPerEvent) {
    SingleOutputStreamOperator<Observation> observations =
        userRecords.process(new ParseRecords()).name("parse contract").uid("parse-contract");
    DataStream<String> invalid = observations.getSideOutput(INVALID);

    WatermarkStrategy<Observation> strategy =
        watermarkPerEvent
            ? WatermarkStrategy.<Observation>forGenerator(ctx -> new PerEventBoundedOutOfOrderness(config.outOfOrderness()))
            : WatermarkStrategy.<Observation>forBoundedOutOfOrderness(config.outOfOrderness());
    DataStream<Observation> timed =
        observations
            .assignTimestampsAndWatermarks(
                strategy.withTimestampAssigner((o, ts) -> o.eventTime).withIdleness(config.idleness()))
            .name("event time")
            .uid("event-time");

    SingleOutputStreamOperator<WindowAggregate> tumbling =
        window(timed, TumblingEventTimeWindows.of(Duration.ofMinutes(1)), TUMBLING, LATE_TUMBLING, config);
    SingleOutputStreamOperator<WindowAggregate> sliding =
        window(
            timed,
            SlidingEventTimeWindows.of(Duration.ofMinutes(5), Duration.ofMinutes(1)),
            SLIDING,
            LATE_SLIDING,
            config);

    DataStream<LateObservation> late =
        tumbling
            .getSideOutput(LATE_TUMBLING)
            .map(o -> new LateObservation(TUMBLING, o))
            .returns(LateObservation.class)
            .union(sliding.getSideOutput(LATE_SLIDING).map(o -> new LateObservation(SLIDING, o)).returns(LateObservation.class))
            .map(new CountLate())
            .name("count late records")
            .uid("count-late");
    return new Outputs(tumbling.union(sliding), late, invalid);
  }

  private static SingleOutputStreamOperator<WindowAggregate> window(
      DataStream<Observation> timed,
      WindowAssigner<Object, TimeWindow> assigner,
      String size,
      OutputTag<Observation> lateTag,
      JobConfig config) {
    return timed
        .keyBy(o -> o.entity)
        .window(assigner)
        .allowedLateness(config.allowedLateness())
        .sideOutputLateData(lateTag)
        .aggregate(new StatsAggregate(), new EmitWindow(size))
        .name("window " + size)
        .uid("window-" + size);
  }

  /** Decodes and validates each user record; an invalid one is counted and sent to {@link #INVALID}. */
  public static final class ParseRecords extends ProcessFunction<byte[], Observation> {
    private static final long serialVersionUID = 1L;
    private transient ContractParser parser;
    private transient Counter parsed;
    private transient Counter invalid;

    @Override
    public void open(OpenContext openContext) {
      parser = new ContractParser();
      parsed = getRuntimeContext().getMetricGroup().counter("recordsParsed");
      invalid = getRuntimeContext().getMetricGroup().counter("recordsInvalid");
    }

    @Override
    public void processElement(byte[] data, Context ctx, Collector<Observation> out) {
      parsed.inc();
      ContractRecord record;
      try {
        record = parser.parse(data);
      } catch (ContractException e) {
        invalid.inc();
        ctx.output(INVALID, e.getMessage());
        return;
      }
      for (Observation o : Keys.observations(record)) out.collect(o);
    }
  }

  static final class CountLate extends RichMapFunction<LateObservation, LateObservation> {
    private static final long serialVersionUID = 1L;
    private transient Counter late;

    @Override
    public void open(OpenContext openContext) {
      late = getRuntimeContext().getMetricGroup().counter("lateRecords");
    }

    @Override
    public LateObservation map(LateObservation value) {
      late.inc();
      return value;
    }
  }

  /** Bounded out-of-orderness that emits the watermark on every event that advances it. */
  static final class PerEventBoundedOutOfOrderness implements WatermarkGenerator<Observation> {
    private final long bound;
    private long maxTimestamp = Long.MIN_VALUE;
    private long emitted = Long.MIN_VALUE;

    PerEventBoundedOutOfOrderness(Duration bound) {
      this.bound = bound.toMillis();
    }

    @Override
    public void onEvent(Observation event, long eventTimestamp, WatermarkOutput output) {
      maxTimestamp = Math.max(maxTimestamp, eventTimestamp);
      long wm = maxTimestamp - bound - 1;
      if (wm > emitted) {
        emitted = wm;
        output.emitWatermark(new Watermark(wm));
      }
    }

    @Override
    public void onPeriodicEmit(WatermarkOutput output) {}
  }
}
