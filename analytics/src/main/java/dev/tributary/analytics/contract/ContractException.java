package dev.tributary.analytics.contract;

/**
 * A record that breaks the contract. Codes match shared/contract/errors.ts: {@code RECORD_MALFORMED}
 * (not UTF-8, not JSON, not a JSON object) and {@code RECORD_INVALID} (shape or value rule broken).
 */
public final class ContractException extends Exception {
  public static final String MALFORMED = "RECORD_MALFORMED";
  public static final String INVALID = "RECORD_INVALID";

  private final String code;
  private final String path;

  public ContractException(String code, String path, String message) {
    super(code + (path.isEmpty() ? "" : " at " + path) + ": " + message);
    this.code = code;
    this.path = path;
  }

  /** Stable error code shared with the TypeScript contract. */
  public String code() {
    return code;
  }

  /** Dotted path of the offending field, "" for the whole record. */
  public String path() {
    return path;
  }
}
