package dev.tributary.analytics.local;

import java.io.IOException;
import java.io.InputStream;
import org.apache.flink.configuration.Configuration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What only a local run (local/analytics/launcher.ts) turns on, through environment variables that
 * Managed Flink never sets:
 *
 * <ul>
 *   <li>{@code TRIBUTARY_ANALYTICS_STATS=<file>}: the {@link StatsFileReporter} writes the job's counters
 *       there every {@code TRIBUTARY_ANALYTICS_STATS_INTERVAL_MS} (default 1000).
 *   <li>{@code TRIBUTARY_ANALYTICS_WATCH_STDIN=1}: the JVM exits when its standard input reaches end of
 *       file, i.e. when the launching process is gone, even after SIGKILL (the pipe's write end closes).
 * </ul>
 */
public final class LocalRun {
  private static final Logger LOG = LoggerFactory.getLogger(LocalRun.class);
  public static final String REPORTER = "tributarystats";

  private LocalRun() {}

  /** The MiniCluster's configuration: empty unless a stats file is requested. */
  public static Configuration configuration() {
    Configuration conf = new Configuration();
    String stats = System.getenv("TRIBUTARY_ANALYTICS_STATS");
    if (stats != null && !stats.isBlank()) {
      String interval = System.getenv().getOrDefault("TRIBUTARY_ANALYTICS_STATS_INTERVAL_MS", "1000");
      conf.setString("metrics.reporter." + REPORTER + ".factory.class", StatsFileReporterFactory.class.getName());
      conf.setString("metrics.reporter." + REPORTER + ".interval", Long.parseLong(interval.trim()) + " ms");
      conf.setString("metrics.reporter." + REPORTER + ".file", stats);
    }
    return conf;
  }

  /** Starts the standard-input watchdog when asked to. */
  public static void watchParent() {
    if (!"1".equals(System.getenv("TRIBUTARY_ANALYTICS_WATCH_STDIN"))) return;
    Thread watchdog =
        new Thread(
            () -> {
              try (InputStream in = System.in) {
                byte[] buffer = new byte[256];
                while (in.read(buffer) >= 0) {
                  // Nothing is ever sent; only the end of the stream matters.
                }
              } catch (IOException e) {
                // A broken pipe means the same as end of file.
              }
              LOG.warn("launcher gone (standard input closed): exiting");
              Thread halt =
                  new Thread(
                      () -> {
                        try {
                          Thread.sleep(5_000);
                        } catch (InterruptedException e) {
                          Thread.currentThread().interrupt();
                        }
                        Runtime.getRuntime().halt(143);
                      },
                      "tributary-halt");
              halt.setDaemon(true);
              halt.start();
              System.exit(143);
            },
            "tributary-parent-watchdog");
    watchdog.setDaemon(true);
    watchdog.start();
  }
}
