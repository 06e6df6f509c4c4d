package dev.tributary.analytics.aggregate;

import dev.tributary.analytics.contract.ContractRecord;
import java.util.List;

/** Series keys: which entities a record contributes a value to. */
public final class Keys {
  private Keys() {}

  public static String device(String deviceId, String metric) {
    return "device#" + deviceId + "#" + metric;
  }

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
    // Log lines are not aggregated yet.
    if (record instanceof ContractRecord.Log) return List.of();
    ContractRecord.Transaction x = (ContractRecord.Transaction) record;
    double amount = x.amountMinor();
    return List.of(
        new Observation(merchant(x.merchantId()), x.eventTime(), amount, x.id(), x.currency()),
        new Observation(card(x.cardToken()), x.eventTime(), amount, x.id(), x.currency()));
  }
}
