package dev.tributary.analytics.contract;

import java.util.Map;
import java.util.Optional;

/** The Java view of the record contract (shared/contract/schema.ts), as decoded in compatible mode. */
public sealed interface ContractRecord permits ContractRecord.Telemetry, ContractRecord.Transaction {
  String id();

  int schemaVersion();

  String deviceId();

  String partitionKey();

  long eventTime();

  /** {@code telemetry} or {@code transaction}. */
  String type();

  record Telemetry(
      String id,
      int schemaVersion,
      String deviceId,
      String partitionKey,
      long eventTime,
      String metric,
      double value,
      String unit,
      Optional<Map<String, String>> tags)
      implements ContractRecord {
    @Override
    public String type() {
      return "telemetry";
    }
  }

  record Location(double lat, double lon, Optional<String> country) {}

  record Transaction(
      String id,
      int schemaVersion,
      String deviceId,
      String partitionKey,
      long eventTime,
      String cardToken,
      String merchantId,
      Optional<String> merchantCategory,
      long amountMinor,
      String currency,
      Optional<Location> location,
      String channel)
      implements ContractRecord {
    @Override
    public String type() {
      return "transaction";
    }
  }
}
