package dev.tributary.analytics;

import java.io.Serializable;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;

/**
 * The job's settings, read from Managed Flink runtime property groups
 * (KinesisAnalyticsRuntime.getApplicationProperties), each with a local default:
 *
 * <pre>
 * KinesisSource:  stream.name, aws.region, aws.endpoint (local only), starting.position (TRIM_HORIZON|LATEST),
 *                 reader.type (EFO|POLLING, default EFO), efo.consumer.name (default analytics),
 *                 efo.consumer.arn (default: looked up from the name), poll.interval.ms (POLLING)
 * AggregatesSink: table.name, aws.region (default: KinesisSource's), aws.endpoint (local only), ttl.days
 * Windows:        out.of.orderness.ms, idleness.ms, allowed.lateness.ms
 * Job:            checkpoint.interval.ms (local runs only; Managed Flink configures checkpoints itself)
 * </pre>
 */
public record JobConfig(
    String streamName,
    String region,
    String kinesisEndpoint,
    String startingPosition,
    ReaderType readerType,
    String efoConsumerName,
    String efoConsumerArn,
    long pollIntervalMs,
    String aggregatesTable,
    String dynamoDbRegion,
    String dynamoDbEndpoint,
    long ttlSeconds,
    Duration outOfOrderness,
    Duration idleness,
    Duration allowedLateness,
    long checkpointIntervalMs)
    implements Serializable {

  public static final String SOURCE_GROUP = "KinesisSource";
  public static final String SINK_GROUP = "AggregatesSink";
  public static final String WINDOWS_GROUP = "Windows";
  public static final String JOB_GROUP = "Job";

  /**
   * How the source reads the stream: EFO = enhanced fan-out (SubscribeToShard through the stream's
   * registered consumer, dedicated 2 MiB/s per shard), POLLING = GetRecords (shared 2 MiB/s per shard).
   */
  public enum ReaderType {
    EFO,
    POLLING
  }

  public static JobConfig defaults() {
    return from(Map.of());
  }

  public static JobConfig from(Map<String, Properties> groups) {
    Properties source = groups.getOrDefault(SOURCE_GROUP, new Properties());
    Properties sink = groups.getOrDefault(SINK_GROUP, new Properties());
    Properties windows = groups.getOrDefault(WINDOWS_GROUP, new Properties());
    Properties job = groups.getOrDefault(JOB_GROUP, new Properties());
    String region = source.getProperty("aws.region", envOr("AWS_REGION", "us-east-1"));
    String startingPosition = source.getProperty("starting.position", "TRIM_HORIZON");
    if (!startingPosition.equals("TRIM_HORIZON") && !startingPosition.equals("LATEST")) {
      throw new IllegalArgumentException(
          SOURCE_GROUP + ".starting.position must be TRIM_HORIZON or LATEST, got " + startingPosition);
    }
    String reader = source.getProperty("reader.type", ReaderType.EFO.name()).trim();
    ReaderType readerType;
    try {
      readerType = ReaderType.valueOf(reader);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(SOURCE_GROUP + ".reader.type must be EFO or POLLING, got " + reader, e);
    }
    return new JobConfig(
        source.getProperty("stream.name", "tributary-dev-records"),
        region,
        source.getProperty("aws.endpoint", ""),
        startingPosition,
        readerType,
        source.getProperty("efo.consumer.name", "analytics"),
        source.getProperty("efo.consumer.arn", ""),
        positive(source, SOURCE_GROUP, "poll.interval.ms", 200),
        sink.getProperty("table.name", "tributary-dev-aggregates"),
        sink.getProperty("aws.region", region),
        sink.getProperty("aws.endpoint", ""),
        positive(sink, SINK_GROUP, "ttl.days", 30) * 86_400L,
        Duration.ofMillis(positive(windows, WINDOWS_GROUP, "out.of.orderness.ms", 5_000)),
        Duration.ofMillis(positive(windows, WINDOWS_GROUP, "idleness.ms", 60_000)),
        Duration.ofMillis(nonNegative(windows, WINDOWS_GROUP, "allowed.lateness.ms", 120_000)),
        positive(job, JOB_GROUP, "checkpoint.interval.ms", 60_000));
  }

  private static String envOr(String name, String fallback) {
    String v = System.getenv(name);
    return v == null || v.isBlank() ? fallback : v;
  }

  private static long positive(Properties p, String group, String key, long fallback) {
    long v = nonNegative(p, group, key, fallback);
    if (v == 0) throw new IllegalArgumentException(group + "." + key + " must be > 0");
    return v;
  }

  private static long nonNegative(Properties p, String group, String key, long fallback) {
    String raw = p.getProperty(key);
    if (raw == null || raw.isBlank()) return fallback;
    try {
      long v = Long.parseLong(raw.trim());
      if (v < 0) throw new IllegalArgumentException(group + "." + key + " must be >= 0, got " + raw);
      return v;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(group + "." + key + " must be an integer, got '" + raw + "'", e);
    }
  }
}
