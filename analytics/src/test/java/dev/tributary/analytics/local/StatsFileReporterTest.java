package dev.tributary.analytics.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.flink.metrics.MetricConfig;
import org.apache.flink.metrics.SimpleCounter;
import org.apache.flink.metrics.groups.UnregisteredMetricsGroup;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StatsFileReporterTest {
  @Test
  void sumsTheJobCountersOverSubtasksIntoOneJsonObject(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("stats.json");
    StatsFileReporter reporter = new StatsFileReporter();
    MetricConfig config = new MetricConfig();
    config.setProperty("file", file.toString());
    reporter.open(config);
    UnregisteredMetricsGroup group = new UnregisteredMetricsGroup();
    SimpleCounter a = new SimpleCounter();
    SimpleCounter b = new SimpleCounter();
    SimpleCounter other = new SimpleCounter();
    a.inc(3);
    b.inc(4);
    other.inc(100);
    reporter.notifyOfAddedMetric(a, "windowsEmitted", group);
    reporter.notifyOfAddedMetric(b, "windowsEmitted", group);
    reporter.notifyOfAddedMetric(other, "numRecordsIn", group);
    reporter.report();
    String json = Files.readString(file);
    assertTrue(json.startsWith("{\"updatedAt\":"), json);
    assertTrue(json.contains("\"windowsEmitted\":7,"), json);
    assertTrue(json.contains("\"lateRecords\":0,"), json);
    assertTrue(!json.contains("numRecordsIn"), json);

    reporter.notifyOfRemovedMetric(b, "windowsEmitted", group);
    reporter.close();
    assertTrue(Files.readString(file).contains("\"windowsEmitted\":3,"));
    assertEquals(1, Files.list(dir).count());
  }
}
