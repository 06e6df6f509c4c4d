package dev.tributary.analytics;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;

/** Contract records as wire bytes, with deterministic UUIDv7 ids. */
public final class TestRecords {
  /** 2026-11-23T12:00:00Z, minute aligned. */
  public static final long T0 = 1_795_435_200_000L;

  private static final AtomicLong SEQ = new AtomicLong();

  private TestRecords() {}

  public static String id(long n) {
    return String.format("019ab4e1-8c2a-7d43-9f1e-%012x", n);
  }

  public static byte[] telemetry(String device, String metric, long eventTime, double value) {
    return telemetry(device, metric, eventTime, value, SEQ.incrementAndGet());
  }

  public static byte[] telemetry(String device, String metric, long eventTime, double value, long idSeq) {
    String json =
        String.format(
            "{\"id\":\"%s\",\"schema_version\":1,\"type\":\"telemetry\",\"device_id\":\"%s\",\"partition_key\":\"%s\","
                + "\"event_time\":%d,\"payload\":{\"metric\":\"%s\",\"value\":%s,\"unit\":\"Cel\"}}",
            id(idSeq), device, device, eventTime, metric, Double.toString(value), "");
    return json.getBytes(StandardCharsets.UTF_8);
  }

  public static byte[] transaction(String merchant, String card, long eventTime, long amountMinor) {
    String json =
        String.format(
            "{\"id\":\"%s\",\"schema_version\":1,\"type\":\"transaction\",\"device_id\":\"terminal-1\","
                + "\"partition_key\":\"%s\",\"event_time\":%d,\"payload\":{\"card_token\":\"%s\",\"merchant_id\":\"%s\","
                + "\"amount_minor\":%d,\"currency\":\"EUR\",\"channel\":\"contactless\"}}",
            id(SEQ.incrementAndGet()), card, eventTime, card, merchant, amountMinor);
    return json.getBytes(StandardCharsets.UTF_8);
  }

  public static byte[] log(String device, String level, long eventTime, String message) {
    String json =
        String.format(
            "{\"id\":\"%s\",\"schema_version\":1,\"type\":\"log\",\"device_id\":\"%s\",\"partition_key\":\"%s\","
                + "\"event_time\":%d,\"payload\":{\"level\":\"%s\",\"message\":\"%s\",\"source\":\"app\","
                + "\"fields\":{\"file\":\"/var/log/app.log\"}}}",
            id(SEQ.incrementAndGet()), device, device, eventTime, level, message);
    return json.getBytes(StandardCharsets.UTF_8);
  }
}
