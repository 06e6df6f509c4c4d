package dev.tributary.analytics.local;

import java.util.Properties;
import org.apache.flink.metrics.reporter.MetricReporter;
import org.apache.flink.metrics.reporter.MetricReporterFactory;

/** Found through META-INF/services; selected by {@code metrics.reporter.<name>.factory.class}. */
public final class StatsFileReporterFactory implements MetricReporterFactory {
  @Override
  public MetricReporter createMetricReporter(Properties properties) {
    return new StatsFileReporter();
  }
}
