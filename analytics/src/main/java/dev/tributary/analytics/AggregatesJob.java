package dev.tributary.analytics;

import com.amazonaws.services.kinesisanalytics.runtime.KinesisAnalyticsRuntime;
import dev.tributary.analytics.local.LocalRun;
import dev.tributary.analytics.sink.AggregatesTableSink;
import dev.tributary.analytics.source.KinesisEfoSource;
import dev.tributary.analytics.source.KinesisShardSource;
import java.io.IOException;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.streaming.api.CheckpointingMode;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Entry point on Managed Service for Apache Flink (and locally): Kinesis → windowed aggregates →
 * DynamoDB AggregatesTable; late records → the same table under {@code late#...} keys; invalid
 * records → logged with their reason and counted.
 *
 * <p>Configuration: Managed Flink runtime property groups (see {@link JobConfig}); locally the file
 * named by {@code TRIBUTARY_ANALYTICS_PROPERTIES} (same JSON shape as application_properties.json), or
 * the defaults. Local runs also honour the switches of {@link LocalRun} (stats file, parent watchdog).
 */
public final class AggregatesJob {
  private static final Logger LOG = LoggerFactory.getLogger(AggregatesJob.class);

  private AggregatesJob() {}

  public static Map<String, Properties> loadProperties() throws IOException {
    String local = System.getenv("TRIBUTARY_ANALYTICS_PROPERTIES");
    if (local != null && !local.isBlank()) return KinesisAnalyticsRuntime.getApplicationProperties(local);
    return KinesisAnalyticsRuntime.getApplicationProperties();
  }

  public static void main(String[] args) throws Exception {
    LocalRun.watchParent();
    JobConfig config = JobConfig.from(loadProperties());
    LOG.info("starting with {}", config);
    // On Managed Flink this returns the cluster's environment and the configuration is not used.
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(LocalRun.configuration());
    // Managed Flink applies the application's CheckpointConfiguration; this is for local runs.
    env.enableCheckpointing(config.checkpointIntervalMs(), CheckpointingMode.EXACTLY_ONCE);
    AggregatesPipeline.configure(env);
    DataStream<byte[]> records =
        switch (config.readerType()) {
          case EFO ->
              env.addSource(KinesisEfoSource.create(config))
                  .name("kinesis efo " + config.streamName())
                  .uid("kinesis-efo-source");
          case POLLING ->
              env.addSource(new KinesisShardSource(config))
                  .name("kinesis " + config.streamName())
                  .uid("kinesis-source");
        };
    attach(records, config, false);
    env.execute("tributary-aggregates");
  }

  /** Wires the pipeline to the DynamoDB sinks (Flink's DynamoDB connector); shared by main and the tests. */
  public static void attach(DataStream<byte[]> records, JobConfig config, boolean watermarkPerEvent) {
    AggregatesPipeline.Outputs out = AggregatesPipeline.build(records, config, watermarkPerEvent);
    out.aggregates()
        .sinkTo(AggregatesTableSink.aggregates(config))
        .name("dynamodb aggregates")
        .uid("dynamodb-aggregates");
    out.late()
        .sinkTo(AggregatesTableSink.late(config))
        .name("dynamodb late records")
        .uid("dynamodb-late");
    out.invalid()
        .map(
            reason -> {
              LOG.warn("invalid record quarantined: {}", reason);
              return reason;
            })
        .name("log invalid records")
        .uid("log-invalid")
        .sinkTo(new DiscardingSink<>())
        .name("invalid records")
        .uid("invalid-sink");
  }
}
