package dev.tributary.analytics.local;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Metric;
import org.apache.flink.metrics.MetricConfig;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.reporter.MetricReporter;
import org.apache.flink.metrics.reporter.Scheduled;

/**
 * Local runs only: a Flink metric reporter that sums the job's own counters over all subtasks and
 * writes them as one JSON object to a file (atomically: temp file + rename) on every report interval
 * and on close. The launcher (local/analytics/launcher.ts) reads it for status lines and tests:
 *
 * <pre>{"updatedAt":1795448664000,"recordsParsed":12,"recordsInvalid":0,"windowsEmitted":9,
 *  "aggregateItemsWritten":9,"lateRecords":2,"lateItemsWritten":2}</pre>
 *
 * Counters restart from 0 when the job restarts (Flink re-registers its metrics).
 */
public final class StatsFileReporter implements MetricReporter, Scheduled {
  /** The counters the job registers (see AggregatesPipeline, EmitWindow, sink/AggregatesTableSink, the sources). */
  public static final List<String> COUNTERS =
      List.of(
          "recordsParsed",
          "recordsInvalid",
          "windowsEmitted",
          "aggregateItemsWritten",
          "lateRecords",
          "lateItemsWritten");

  private final List<Map.Entry<String, Counter>> counters = new CopyOnWriteArrayList<>();
  private Path file;

  @Override
  public void open(MetricConfig config) {
    String path = config.getString("file", "");
    if (path.isBlank()) throw new IllegalArgumentException("StatsFileReporter needs metrics.reporter.<name>.file");
    file = Path.of(path);
  }

  @Override
  public void close() {
    report();
  }

  @Override
  public void notifyOfAddedMetric(Metric metric, String metricName, MetricGroup group) {
    if (metric instanceof Counter counter && COUNTERS.contains(metricName)) {
      counters.add(Map.entry(metricName, counter));
    }
  }

  @Override
  public void notifyOfRemovedMetric(Metric metric, String metricName, MetricGroup group) {
    counters.removeIf(e -> e.getValue() == metric);
  }

  @Override
  public synchronized void report() {
    if (file == null) return;
    Map<String, Long> sums = new TreeMap<>();
    for (String name : COUNTERS) sums.put(name, 0L);
    for (Map.Entry<String, Counter> e : counters) sums.merge(e.getKey(), e.getValue().getCount(), Long::sum);
    StringBuilder json = new StringBuilder("{\"updatedAt\":").append(System.currentTimeMillis());
    for (String name : COUNTERS) json.append(",\"").append(name).append("\":").append(sums.get(name));
    json.append("}\n");
    try {
      Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
      Files.writeString(tmp, json, StandardCharsets.UTF_8);
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new UncheckedIOException("writing " + file, e);
    }
  }
}
