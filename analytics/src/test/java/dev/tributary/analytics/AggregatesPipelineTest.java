package dev.tributary.analytics;

import static dev.tributary.analytics.TestRecords.T0;
import static dev.tributary.analytics.TestRecords.log;
import static dev.tributary.analytics.TestRecords.telemetry;
import static dev.tributary.analytics.TestRecords.transaction;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tributary.analytics.aggregate.LateObservation;
import dev.tributary.analytics.aggregate.WindowAggregate;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Collectors;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The topology on a Flink MiniCluster with a bounded source. Watermarks advance per event, so which
 * record is on time, late-but-allowed or too late depends only on the input order.
 *
 * <p>Settings: out-of-orderness 5 s, allowed lateness 60 s. Watermark after an event = max event time
 * seen - 5 s - 1 ms. A 1-minute window [s, s+60 s) fires when the watermark reaches s+60 s-1 ms and is
 * dropped when it passes s+120 s-1 ms.
 */
class AggregatesPipelineTest {
  @RegisterExtension
  static final MiniClusterExtension MINI =
      new MiniClusterExtension(
          new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2).build());

  static final String DEVICE = "device#s1#temperature#1m";
  static List<WindowAggregate> aggregates;
  static List<LateObservation> late;
  static List<String> invalid;

  @BeforeAll
  static void run() throws Exception {
    List<byte[]> input =
        List.of(
            telemetry("s1", "temperature", T0 + 1_000, 10), // window A = [T0, T0+60s)
            telemetry("s1", "temperature", T0 + 30_000, 20),
            telemetry("s1", "temperature", T0 + 20_000, 30), // out of order by 10 s, within the 5 s bound of wm
            transaction("merchant-42", "tok_4f9a1c2b7d", T0 + 5_000, 1299),
            transaction("merchant-42", "tok_99999999", T0 + 6_000, 701),
            log("g1", "error", T0 + 2_000, "disk full"), // lines per device and level in window A
            log("g1", "info", T0 + 3_000, ""),
            log("g1", "error", T0 + 4_000, "disk full"),
            log("g1", "error", T0 + 40_000, "disk still full"),
            telemetry("s1", "temperature", T0 + 65_000, 5), // wm = T0+59.999s: A fires (rev 1)
            telemetry("s1", "temperature", T0 + 10_000, 40), // late for A but within 60 s lateness: A rev 2
            "not json".getBytes(StandardCharsets.UTF_8), // invalid: counted, kept, not blocking
            telemetry("s1", "temperature", T0 + 200_000, 1), // wm = T0+194.999s: A dropped, B=[T0+60s,+120s) fires
            telemetry("s1", "temperature", T0 + 15_000, 99)); // too late for A: side output; in time for 5m [T0,T0+5m)

    Properties windows = new Properties();
    windows.setProperty("out.of.orderness.ms", "5000");
    windows.setProperty("allowed.lateness.ms", "60000");
    windows.setProperty("idleness.ms", "600000");
    JobConfig config = JobConfig.from(Map.of(JobConfig.WINDOWS_GROUP, windows));

    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(1);
    AggregatesPipeline.configure(env);
    DataStream<byte[]> source = env.fromData(input, PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
    AggregatesPipeline.Outputs out = AggregatesPipeline.build(source, config, true);
    out.aggregates().sinkTo(new CollectSink<>("aggregates"));
    out.late().sinkTo(new CollectSink<>("late"));
    out.invalid().sinkTo(new CollectSink<>("invalid"));
    env.execute("aggregates-pipeline-test");
    aggregates = CollectSink.results("aggregates");
    late = CollectSink.results("late");
    invalid = CollectSink.results("invalid");
  }

  static List<WindowAggregate> series(String pk) {
    return aggregates.stream().filter(a -> a.pk().equals(pk)).collect(Collectors.toList());
  }

  static void assertStats(WindowAggregate a, long start, long count, double sum, double min, double max, int rev) {
    String what = a.toString();
    assertEquals(start, a.windowStart, what);
    assertEquals(count, a.count, what);
    assertEquals(sum, a.sum, 1e-9, what);
    assertEquals(min, a.min, what);
    assertEquals(max, a.max, what);
    assertEquals(sum / count, a.mean, 1e-9, what);
    assertEquals(rev, a.revision, what);
    assertTrue(a.p95 >= min && a.p95 <= max && a.p99 >= a.p95, what);
  }

  @Test
  void tumblingWindowsMatchTheHandComputedResultsIncludingTheLateUpdate() {
    List<WindowAggregate> s = series(DEVICE);
    assertEquals(4, s.size(), s.toString());
    assertStats(s.get(0), T0, 3, 60, 10, 30, 1); // 10, 20, 30 (30 arrived out of order)
    assertStats(s.get(1), T0, 4, 100, 10, 40, 2); // + 40, late within allowed lateness
    assertStats(s.get(2), T0 + 60_000, 1, 5, 5, 5, 1);
    assertStats(s.get(3), T0 + 180_000, 1, 1, 1, 1, 1); // fired by the end-of-input watermark
    assertEquals(T0 + 60_000, s.get(0).windowEnd);
  }

  @Test
  void tooLateRecordGoesToTheSideOutputOnceAndIsNotCounted() {
    assertEquals(1, late.size(), late.toString());
    assertEquals(AggregatesPipeline.TUMBLING, late.get(0).windowSize);
    assertEquals("device#s1#temperature", late.get(0).observation.entity);
    assertEquals(T0 + 15_000, late.get(0).observation.eventTime);
    assertEquals(99, late.get(0).observation.value);
    assertTrue(series(DEVICE).stream().noneMatch(a -> a.max == 99));
  }

  @Test
  void slidingWindowKeepsARecordThatIsOnlyLateForSomeOfItsWindows() {
    List<WindowAggregate> s = series("device#s1#temperature#5m");
    WindowAggregate last =
        s.stream().filter(a -> a.windowStart == T0).reduce((a, b) -> b).orElseThrow(() -> new AssertionError(s));
    // [T0, T0+5m) holds every telemetry value: 10 20 30 5 40 1 99
    assertStats(last, T0, 7, 205, 1, 99, last.revision);
    assertEquals(T0 + 300_000, last.windowEnd);
    // Each sliding window's last emission; window starts every minute from T0-4m.
    // 99 (T0+15s) arrives at watermark T0+194.999s: too late for windows dropped before that, accepted
    // by the later ones, and not a side-output record because some window still took it.
    Map<Long, WindowAggregate> finals =
        s.stream().collect(Collectors.toMap(a -> a.windowStart, a -> a, (a, b) -> b));
    WindowAggregate w4 = finals.get(T0 - 240_000); // [T0-4m, T0+1m): 10 20 30 + late 40
    assertStats(w4, T0 - 240_000, 4, 100, 10, 40, 2);
    WindowAggregate w3 = finals.get(T0 - 180_000); // [T0-3m, T0+2m): 10 20 30 40 5; 99 came after its lateness
    assertStats(w3, T0 - 180_000, 5, 105, 5, 40, 1);
    WindowAggregate w2 = finals.get(T0 - 120_000); // [T0-2m, T0+3m): 10 20 30 40 5 + 99 within lateness
    assertStats(w2, T0 - 120_000, 6, 204, 5, 99, 2);
  }

  @Test
  void transactionsAggregatePerMerchantAndPerCard() {
    List<WindowAggregate> merchant = series("merchant#merchant-42#1m");
    assertEquals(1, merchant.size(), merchant.toString());
    assertStats(merchant.get(0), T0, 2, 2000, 701, 1299, 1);
    List<WindowAggregate> card = series("card#tok_4f9a1c2b7d#1m");
    assertEquals(1, card.size(), card.toString());
    assertStats(card.get(0), T0, 1, 1299, 1299, 1299, 1);
  }

  @Test
  void logLinesAreCountedPerDeviceAndLevel() {
    List<WindowAggregate> errors = series("device#g1#log.error#1m");
    assertEquals(1, errors.size(), errors.toString());
    assertStats(errors.get(0), T0, 3, 3, 1, 1, 1);
    assertEquals("{line}", errors.get(0).unit);
    List<WindowAggregate> info = series("device#g1#log.info#1m");
    assertEquals(1, info.size(), info.toString());
    assertStats(info.get(0), T0, 1, 1, 1, 1, 1);
    // No series for levels that had no line; the 5-minute windows count the same lines.
    assertTrue(aggregates.stream().noneMatch(a -> a.entity.startsWith("device#g1#log.warning")));
    WindowAggregate sliding =
        series("device#g1#log.error#5m").stream().filter(a -> a.windowStart == T0).reduce((a, b) -> b).orElseThrow();
    assertEquals(3, sliding.count);
  }

  @Test
  void invalidRecordIsKeptWithItsReason() {
    assertEquals(1, invalid.size());
    assertTrue(invalid.get(0).startsWith("RECORD_MALFORMED"), invalid.get(0));
  }
}
