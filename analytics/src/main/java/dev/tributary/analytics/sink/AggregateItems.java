package dev.tributary.analytics.sink;

import dev.tributary.analytics.aggregate.Observation;
import dev.tributary.analytics.aggregate.WindowAggregate;
import java.math.BigDecimal;
import java.util.LinkedHashMap;
import java.util.Map;
import software.amazon.awssdk.services.dynamodb.model.AttributeValue;

/**
 * DynamoDB items of the AggregatesTable (serverless.yml). Keys are deterministic, so a replay or a
 * restart from a checkpoint overwrites the same items instead of adding new ones:
 *
 * <ul>
 *   <li>window aggregate: pk = {@code <entity>#<windowSize>} (e.g. {@code device#sensor-1#temperature#1m}),
 *       sk = window start, epoch millis (Number). Latest N windows: Query pk, ScanIndexForward=false.
 *   <li>late record (past allowed lateness): pk = {@code late#<entity>#<windowSize>}, sk = event time
 *       millis with a fraction taken from the record id, so two late records never share a key.
 * </ul>
 *
 * Every item carries {@code expiresAt} (epoch seconds) for the table's TTL.
 */
public final class AggregateItems {
  private AggregateItems() {}

  public static Map<String, AttributeValue> aggregate(WindowAggregate w, long ttlSeconds) {
    Map<String, AttributeValue> item = new LinkedHashMap<>();
    item.put("pk", s(w.pk()));
    item.put("sk", n(Long.toString(w.windowStart)));
    item.put("entity", s(w.entity));
    item.put("windowSize", s(w.windowSize));
    item.put("windowStart", n(Long.toString(w.windowStart)));
    item.put("windowEnd", n(Long.toString(w.windowEnd)));
    item.put("count", n(Long.toString(w.count)));
    item.put("sum", n(number(w.sum)));
    item.put("min", n(number(w.min)));
    item.put("max", n(number(w.max)));
    item.put("mean", n(number(w.mean)));
    item.put("p95", n(number(w.p95)));
    item.put("p99", n(number(w.p99)));
    item.put("revision", n(Integer.toString(w.revision)));
    // The dashboard's axis title and value suffix: telemetry unit, or the currency of the minor units.
    if (w.unit != null) item.put("unit", s(w.unit));
    item.put("expiresAt", n(Long.toString(Math.floorDiv(w.windowEnd, 1000L) + ttlSeconds)));
    return item;
  }

  public static Map<String, AttributeValue> late(String windowSize, Observation o, long ttlSeconds) {
    Map<String, AttributeValue> item = new LinkedHashMap<>();
    item.put("pk", s("late#" + o.entity + "#" + windowSize));
    item.put("sk", n(lateSortKey(o)));
    item.put("entity", s(o.entity));
    item.put("windowSize", s(windowSize));
    item.put("recordId", s(o.recordId));
    item.put("eventTime", n(Long.toString(o.eventTime)));
    item.put("value", n(number(o.value)));
    item.put("expiresAt", n(Long.toString(Math.floorDiv(o.eventTime, 1000L) + ttlSeconds)));
    return item;
  }

  /** {@code <eventTime>.<13 digits from the id's last 40 random bits>}: time-sorted, unique per record. */
  static String lateSortKey(Observation o) {
    String id = o.recordId == null ? "" : o.recordId.replace("-", "");
    long suffix = id.length() >= 10 ? Long.parseLong(id.substring(id.length() - 10), 16) : 0L;
    return o.eventTime + "." + String.format("%013d", suffix);
  }

  /** Largest magnitude a DynamoDB Number holds (9.99...E+125); smaller non-zero ones go down to 1E-130. */
  static final BigDecimal DYNAMODB_MAX = new BigDecimal("9.9999999999999999999999999999999999999E+125");

  /**
   * DynamoDB Number text: plain digits for ordinary magnitudes, exponent form otherwise. The contract
   * allows any finite double, DynamoDB does not: magnitudes beyond its range are clamped to it and
   * below 1E-130 written as 0, so one extreme value cannot make the sink fail (and the job restart) forever.
   */
  static String number(double value) {
    if (!Double.isFinite(value)) throw new IllegalArgumentException("DynamoDB numbers must be finite: " + value);
    double abs = Math.abs(value);
    if (abs < 1e-130) return "0";
    if (abs > 9.9e125 && BigDecimal.valueOf(abs).compareTo(DYNAMODB_MAX) > 0) {
      return (value < 0 ? "-" : "") + DYNAMODB_MAX.toString();
    }
    BigDecimal d = BigDecimal.valueOf(value).stripTrailingZeros();
    return abs >= 1e-6 && abs < 1e21 ? d.toPlainString() : d.toString();
  }

  private static AttributeValue s(String v) {
    return AttributeValue.fromS(v);
  }

  private static AttributeValue n(String v) {
    return AttributeValue.fromN(v);
  }
}
