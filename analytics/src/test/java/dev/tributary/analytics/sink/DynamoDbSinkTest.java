package dev.tributary.analytics.sink;

import static dev.tributary.analytics.TestRecords.T0;
import static dev.tributary.analytics.TestRecords.log;
import static dev.tributary.analytics.TestRecords.telemetry;
import static dev.tributary.analytics.TestRecords.transaction;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tributary.analytics.AggregatesJob;
import dev.tributary.analytics.AggregatesPipeline;
import dev.tributary.analytics.DynamoDbLocal;
import dev.tributary.analytics.JobConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.restartstrategy.RestartStrategies;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import software.amazon.awssdk.services.dynamodb.model.AttributeValue;

/**
 * The job's sinks (Flink's DynamoDB connector, {@link AggregatesTableSink}) against the real
 * DynamoDB Local: items have the table's keys, a replay of the same input leaves the table
 * unchanged, and a failure + restart from a checkpoint ends with exactly the items of a run without
 * failure (no double counting).
 */
class DynamoDbSinkTest {
  @RegisterExtension
  static final MiniClusterExtension MINI =
      new MiniClusterExtension(
          new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2).build());

  static DynamoDbLocal db;

  @BeforeAll
  static void start() throws Exception {
    Assumptions.assumeTrue(DynamoDbLocal.unavailable().isEmpty(), DynamoDbLocal.unavailable().orElse(""));
    db = DynamoDbLocal.start();
  }

  @AfterAll
  static void stop() throws Exception {
    if (db != null) db.close();
  }

  static JobConfig config(String table) {
    Properties sink = new Properties();
    sink.setProperty("table.name", table);
    sink.setProperty("aws.endpoint", db.endpoint);
    Properties windows = new Properties();
    windows.setProperty("out.of.orderness.ms", "5000");
    windows.setProperty("allowed.lateness.ms", "60000");
    windows.setProperty("idleness.ms", "600000");
    return JobConfig.from(Map.of(JobConfig.SINK_GROUP, sink, JobConfig.WINDOWS_GROUP, windows));
  }

  /** In order or within the out-of-orderness bound only: results do not depend on where a restart lands. */
  static List<byte[]> input() {
    List<byte[]> input = new ArrayList<>();
    for (int i = 0; i < 60; i++) {
      long t = T0 + i * 7_000L - (i % 3 == 0 ? 3_000 : 0);
      input.add(telemetry("s" + (i % 3), "temperature", t, 20 + (i % 7), 10_000 + i));
      if (i % 4 == 0) input.add(transaction("merchant-" + (i % 2), "tok_card" + (i % 5) + "xyz", t, 100 + i));
      if (i % 5 == 0) input.add(log("g0", "error", t, "line " + i));
    }
    input.add(telemetry("s0", "temperature", T0 + 2_000, -5, 20_000)); // too late → late#... item
    return input;
  }

  static void run(JobConfig config, List<byte[]> input, boolean failOnce) throws Exception {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(1);
    AggregatesPipeline.configure(env);
    DataStream<byte[]> records;
    if (failOnce) {
      env.enableCheckpointing(50);
      env.setRestartStrategy(RestartStrategies.fixedDelayRestart(3, 0));
      // At most 5 records between checkpoints, so several checkpoints complete while the input flows.
      ArrayList<byte[]> copy = new ArrayList<>(input);
      GeneratorFunction<Long, byte[]> byIndex = i -> copy.get(i.intValue());
      records =
          env.fromSource(
                  new DataGeneratorSource<>(
                      byIndex, copy.size(), RateLimiterStrategy.perCheckpoint(5), PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO),
                  WatermarkStrategy.noWatermarks(),
                  "records")
              .map(new FailOnceAfterCheckpoint())
              .returns(PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
    } else {
      records = env.fromData(input, PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
    }
    AggregatesJob.attach(records, config, true);
    env.execute("dynamodb-sink-test");
  }

  @Test
  void replayAndRestartFromCheckpointUpsertTheSameItems() throws Exception {
    db.createAggregatesTable("agg-once");
    JobConfig once = config("agg-once");
    run(once, input(), false);
    Map<String, Map<String, AttributeValue>> first = db.scan("agg-once");

    Map<String, AttributeValue> window = first.get("device#s0#temperature#1m|" + T0);
    assertTrue(window != null, first.keySet().toString());
    assertEquals("device#s0#temperature", window.get("entity").s());
    assertTrue(Long.parseLong(window.get("expiresAt").n()) > T0 / 1000);
    assertTrue(first.keySet().stream().anyMatch(k -> k.startsWith("late#device#s0#temperature#1m|")), first.keySet().toString());
    assertTrue(first.keySet().stream().anyMatch(k -> k.startsWith("merchant#merchant-0#5m|")));
    // Error lines of g0 (every 5th step, 35 s apart): one in [T0, T0+1m), eight in [T0, T0+5m).
    Map<String, AttributeValue> errors = first.get("device#g0#log.error#1m|" + T0);
    assertTrue(errors != null, first.keySet().toString());
    assertEquals("1", errors.get("count").n());
    assertEquals("{line}", errors.get("unit").s());
    assertEquals("8", first.get("device#g0#log.error#5m|" + T0).get("count").n());

    // Replay the whole input into the same table: same keys, same values.
    run(once, input(), false);
    assertEquals(first, db.scan("agg-once"));

    // Fail once after a checkpoint, restart from it, into a fresh table: identical to the clean run.
    FailOnceAfterCheckpoint.reset();
    db.createAggregatesTable("agg-restart");
    run(config("agg-restart"), input(), true);
    assertEquals(1, FailOnceAfterCheckpoint.FAILURES.get(), "the injected failure happened");
    assertTrue(FailOnceAfterCheckpoint.CHECKPOINTS.get() > 0);
    assertEquals(first, db.scan("agg-restart"));
  }

  /** Throws once, at the first record after a checkpoint completed; then passes everything. */
  static final class FailOnceAfterCheckpoint implements MapFunction<byte[], byte[]>, CheckpointListener {
    static final AtomicInteger FAILURES = new AtomicInteger();
    static final AtomicInteger CHECKPOINTS = new AtomicInteger();

    static void reset() {
      FAILURES.set(0);
      CHECKPOINTS.set(0);
    }

    @Override
    public byte[] map(byte[] value) {
      if (CHECKPOINTS.get() > 0 && FAILURES.compareAndSet(0, 1)) {
        throw new IllegalStateException("injected failure after a checkpoint");
      }
      return value;
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) {
      CHECKPOINTS.incrementAndGet();
    }
  }
}
