package dev.tributary.analytics.bench;

import dev.tributary.analytics.AggregatesPipeline;
import dev.tributary.analytics.JobConfig;
import dev.tributary.analytics.TestRecords;
import dev.tributary.analytics.aggregate.WindowAggregate;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Events/s through the whole topology (JSON parse + contract validation, watermarks, 1 min tumbling +
 * 5 min sliding windows with DDSketch, late stream) on a local MiniCluster, and window-emit latency:
 * wall time from generating the first event whose timestamp moves the watermark past a 1-minute
 * window's end to that window's aggregate reaching the sink (includes the 200 ms periodic watermark
 * interval). Baseline, run first in the same JVM: the same generated records through the same
 * parse operator into a discarding sink, with no timestamps, watermarks or windows (what reading and
 * validating alone costs). Not a test: run with
 * {@code mvn -q -f analytics/pom.xml test -Dtest=PipelineBench -Dtributary.bench=2000000}
 * (bench/analytics.bench.ts does, and prints the figures).
 */
class PipelineBench {
  static final long OUT_OF_ORDERNESS_MS = 5_000;
  static final Map<Long, Long> BOUNDARY_NANOS = new ConcurrentHashMap<>();
  static final List<Long> LATENCIES_NANOS = Collections.synchronizedList(new ArrayList<>());
  static final AtomicLong AGGREGATES = new AtomicLong();

  @Test
  void bench() throws Exception {
    String n = System.getProperty("tributary.bench");
    Assumptions.assumeTrue(n != null && !n.isBlank(), "set -Dtributary.bench=<events> to run");
    long events = Long.parseLong(n);
    int devices = 1000;

    Properties windows = new Properties();
    windows.setProperty("out.of.orderness.ms", Long.toString(OUT_OF_ORDERNESS_MS));
    JobConfig config = JobConfig.from(Map.of(JobConfig.WINDOWS_GROUP, windows));

    double baselineSeconds = run(events, devices, config, true).getNetRuntime() / 1000.0;
    System.out.printf(
        "BENCH baseline (parse only, no windows) events=%d wall=%.2fs throughput=%.0f events/s%n",
        events, baselineSeconds, events / baselineSeconds);
    BOUNDARY_NANOS.clear();

    JobExecutionResult result = run(events, devices, config, false);
    double seconds = result.getNetRuntime() / 1000.0;
    List<Long> lat;
    synchronized (LATENCIES_NANOS) {
      lat = new ArrayList<>(LATENCIES_NANOS);
    }
    Collections.sort(lat);
    System.out.printf(
        "BENCH events=%d wall=%.2fs throughput=%.0f events/s aggregates=%d%n",
        events, seconds, events / seconds, AGGREGATES.get());
    if (!lat.isEmpty()) {
      System.out.printf(
          "BENCH window-emit latency (1m windows, n=%d): p50=%.1f ms p95=%.1f ms max=%.1f ms%n",
          lat.size(), pct(lat, 0.5), pct(lat, 0.95), lat.get(lat.size() - 1) / 1e6);
    }
  }

  /** One run over {@code events} generated records: the whole topology, or parse only (baseline). */
  static JobExecutionResult run(long events, int devices, JobConfig config, boolean baseline) throws Exception {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(2);
    AggregatesPipeline.configure(env);
    // One event per millisecond of event time, devices round robin.
    GeneratorFunction<Long, byte[]> gen =
        i -> {
          long ts = TestRecords.T0 + i;
          // The event that lets the watermark pass the end of the 1-minute window ending at w.
          long w = ts - OUT_OF_ORDERNESS_MS - 1;
          if (!baseline && w % 60_000 == 0) BOUNDARY_NANOS.putIfAbsent(w, System.nanoTime());
          String json =
              "{\"id\":\"" + TestRecords.id(i) + "\",\"schema_version\":1,\"type\":\"telemetry\",\"device_id\":\"dev-"
                  + (i % devices) + "\",\"partition_key\":\"dev-" + (i % devices) + "\",\"event_time\":" + ts
                  + ",\"payload\":{\"metric\":\"temperature\",\"value\":" + (i % 400) * 0.25 + ",\"unit\":\"Cel\"}}";
          return json.getBytes(StandardCharsets.UTF_8);
        };
    DataStream<byte[]> source =
        env.fromSource(
                new DataGeneratorSource<>(gen, events, RateLimiterStrategy.noOp(), PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO),
                WatermarkStrategy.noWatermarks(),
                "generator")
            .setParallelism(1);
    if (baseline) {
      source.process(new AggregatesPipeline.ParseRecords()).name("parse contract").sinkTo(new DiscardingSink<>());
      return env.execute("pipeline-bench-baseline");
    }
    AggregatesPipeline.Outputs out = AggregatesPipeline.build(source, config, false);
    out.aggregates().sinkTo(new LatencySink());
    return env.execute("pipeline-bench");
  }

  static double pct(List<Long> sorted, double q) {
    return sorted.get((int) Math.min(sorted.size() - 1, Math.floor(q * sorted.size()))) / 1e6;
  }

  static final class LatencySink implements Sink<WindowAggregate> {
    @Override
    @SuppressWarnings("deprecation")
    public SinkWriter<WindowAggregate> createWriter(InitContext context) {
      return new SinkWriter<>() {
        @Override
        public void write(WindowAggregate a, Context ctx) {
          AGGREGATES.incrementAndGet();
          // First aggregate of each 1-minute window end: latency since its boundary event.
          if (a.windowSize.equals("1m") && a.revision == 1) {
            Long start = BOUNDARY_NANOS.remove(a.windowEnd);
            if (start != null) LATENCIES_NANOS.add(System.nanoTime() - start);
          }
        }

        @Override
        public void flush(boolean endOfInput) {}

        @Override
        public void close() {}
      };
    }
  }
}
