package dev.tributary.analytics.aggregate;

import java.util.Objects;

/**
 * One value of one series, cut from a contract record: {@code device#<device_id>#<metric>} for
 * telemetry values, {@code device#<device_id>#log.<level>} (value 1 per line) for log lines,
 * {@code merchant#<merchant_id>} and {@code card#<card_token>} for transaction amounts (minor units). {@code unit} is what the value measures: the telemetry unit or the
 * transaction's currency (null when unknown). A Flink POJO.
 */
public final class Observation {
  public String entity;
  public long eventTime;
  public double value;
  public String recordId;
  public String unit;

  public Observation() {}

  public Observation(String entity, long eventTime, double value, String recordId) {
    this(entity, eventTime, value, recordId, null);
  }

  public Observation(String entity, long eventTime, double value, String recordId, String unit) {
    this.entity = entity;
    this.eventTime = eventTime;
    this.value = value;
    this.recordId = recordId;
    this.unit = unit;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Observation other
        && entity.equals(other.entity)
        && eventTime == other.eventTime
        && Double.compare(value, other.value) == 0
        && Objects.equals(recordId, other.recordId)
        && Objects.equals(unit, other.unit);
  }

  @Override
  public int hashCode() {
    return Objects.hash(entity, eventTime, value, recordId);
  }

  @Override
  public String toString() {
    return "Observation{" + entity + " @" + eventTime + " = " + value + " (" + recordId + ")}";
  }
}
