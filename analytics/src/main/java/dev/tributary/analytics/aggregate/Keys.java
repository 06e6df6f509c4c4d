package dev.tributary.analytics.aggregate;

import dev.tributary.analytics.contract.ContractRecord;
import java.util.List;

/** Series keys: which entities a record contributes a value to. */
public final class Keys {
  private Keys() {}

  public static String device(String deviceId, String metric) {
    return "device#" + deviceId + "#" + metric;
  }

  /** Metric of a device's log line count per level: {@code log.<level>} (RFC 5424 name), e.g. {@code log.error}. */
  public static String logMetric(String level) {
    return "log." + level;
  }

  /** Unit of log line counts, UCUM's annotation style: each observation is one line. */
  public static final String LINE_UNIT = "{line}";

  public static String merchant(String merchantId) {
    return "merchant#" + merchantId;
  }

  public static String card(String cardToken) {
    return "card#" + cardToken;
  }

  public static List<Observation> observations(ContractRecord record) {
    if (record instanceof ContractRecord.Telemetry t) {
      return List.of(new Observation(device(t.deviceId(), t.metric()), t.eventTime(), t.value(), t.id(), t.unit()));
    }
    // A log line counts 1 in its device's series for its level: a window's count (and sum) is the
    // number of lines of that level, read by the dashboard like any device metric.
    if (record instanceof ContractRecord.Log l) {
      return List.of(new Observation(device(l.deviceId(), logMetric(l.level())), l.eventTime(), 1, l.id(), LINE_UNIT));
    }
    ContractRecord.Transaction x = (ContractRecord.Transaction) record;
    double amount = x.amountMinor();
    return List.of(
        new Observation(merchant(x.merchantId()), x.eventTime(), amount, x.id(), x.currency()),
        new Observation(card(x.cardToken()), x.eventTime(), amount, x.id(), x.currency()));
  }
}
