package dev.tributary.analytics.contract;

import java.util.Map;
import java.util.Optional;

/** The Java view of the record contract (shared/contract/schema.ts), as decoded in compatible mode. */
public sealed interface ContractRecord permits ContractRecord.Telemetry, ContractRecord.Transaction, ContractRecord.Log {
  String id();

  int schemaVersion();

  String deviceId();

  String partitionKey();

  long eventTime();

  /** {@code telemetry}, {@code transaction} or {@code log}. */
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

  /** One log line: RFC 5424 level name, message, the logger/program/file it came from, parsed fields. */
  record Log(
      String id,
      int schemaVersion,
      String deviceId,
      String partitionKey,
      long eventTime,
      String level,
      String message,
      String source,
      Optional<Map<String, String>> fields)
      implements ContractRecord {
    @Override
    public String type() {
      return "log";
    }
  }
}
