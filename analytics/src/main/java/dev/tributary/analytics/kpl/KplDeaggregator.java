package dev.tributary.analytics.kpl;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Splits a KPL aggregated record into its user records: 4 magic bytes {@code F3 89 9A C2}, a protobuf
 * {@code AggregatedRecord} (partition key table = 1, explicit hash key table = 2, records = 3 with
 * partition_key_index = 1, explicit_hash_key_index = 2, data = 3), then the MD5 of the protobuf bytes.
 * Like the KCL, anything without the magic prefix or with a wrong digest is one plain user record.
 */
public final class KplDeaggregator {
  private static final byte[] MAGIC = {(byte) 0xF3, (byte) 0x89, (byte) 0x9A, (byte) 0xC2};
  private static final int DIGEST_BYTES = 16;

  /** One user record: its partition key and data (sub-record index -1 for a plain record). */
  public record UserRecord(String partitionKey, byte[] data, int subSequence) {}

  private KplDeaggregator() {}

  public static boolean isAggregated(byte[] blob) {
    if (blob.length < MAGIC.length + DIGEST_BYTES) return false;
    for (int i = 0; i < MAGIC.length; i++) if (blob[i] != MAGIC[i]) return false;
    return true;
  }

  public static List<UserRecord> deaggregate(String partitionKey, byte[] blob) {
    if (!isAggregated(blob)) return List.of(new UserRecord(partitionKey, blob, -1));
    int protoEnd = blob.length - DIGEST_BYTES;
    byte[] digest = md5(blob, MAGIC.length, protoEnd - MAGIC.length);
    if (!Arrays.equals(digest, 0, DIGEST_BYTES, blob, protoEnd, blob.length)) {
      return List.of(new UserRecord(partitionKey, blob, -1));
    }
    try {
      return parse(blob, MAGIC.length, protoEnd);
    } catch (IllegalArgumentException e) {
      return List.of(new UserRecord(partitionKey, blob, -1));
    }
  }

  private static List<UserRecord> parse(byte[] b, int start, int end) {
    List<String> keys = new ArrayList<>();
    List<long[]> refs = new ArrayList<>();
    List<byte[]> datas = new ArrayList<>();
    Reader r = new Reader(b, start, end);
    while (r.pos < end) {
      long tag = r.varint();
      int field = (int) (tag >>> 3);
      int wire = (int) (tag & 7);
      if (wire != 2) {
        r.skip(wire);
        continue;
      }
      int len = r.length();
      if (field == 1) {
        keys.add(new String(b, r.pos, len, StandardCharsets.UTF_8));
        r.pos += len;
      } else if (field == 3) {
        Reader inner = new Reader(b, r.pos, r.pos + len);
        long keyIndex = -1;
        byte[] data = null;
        while (inner.pos < inner.end) {
          long itag = inner.varint();
          int ifield = (int) (itag >>> 3);
          int iwire = (int) (itag & 7);
          if (ifield == 1 && iwire == 0) {
            keyIndex = inner.varint();
          } else if (ifield == 3 && iwire == 2) {
            int dlen = inner.length();
            data = Arrays.copyOfRange(b, inner.pos, inner.pos + dlen);
            inner.pos += dlen;
          } else {
            inner.skip(iwire);
          }
        }
        if (keyIndex < 0 || data == null) throw new IllegalArgumentException("record without key index or data");
        refs.add(new long[] {keyIndex});
        datas.add(data);
        r.pos += len;
      } else {
        r.pos += len;
      }
    }
    List<UserRecord> out = new ArrayList<>(datas.size());
    for (int i = 0; i < datas.size(); i++) {
      long idx = refs.get(i)[0];
      if (idx >= keys.size()) throw new IllegalArgumentException("partition key index out of range");
      out.add(new UserRecord(keys.get((int) idx), datas.get(i), i));
    }
    return out;
  }

  private static byte[] md5(byte[] b, int off, int len) {
    try {
      MessageDigest md = MessageDigest.getInstance("MD5");
      md.update(b, off, len);
      return md.digest();
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static final class Reader {
    final byte[] b;
    final int end;
    int pos;

    Reader(byte[] b, int pos, int end) {
      this.b = b;
      this.pos = pos;
      this.end = end;
    }

    long varint() {
      long result = 0;
      for (int shift = 0; shift < 64; shift += 7) {
        if (pos >= end) throw new IllegalArgumentException("truncated varint");
        byte x = b[pos++];
        result |= (long) (x & 0x7f) << shift;
        if ((x & 0x80) == 0) return result;
      }
      throw new IllegalArgumentException("varint too long");
    }

    int length() {
      long len = varint();
      if (len < 0 || pos + len > end) throw new IllegalArgumentException("length out of range");
      return (int) len;
    }

    void skip(int wire) {
      switch (wire) {
        case 0 -> varint();
        case 1 -> pos += 8;
        case 2 -> pos += length();
        case 5 -> pos += 4;
        default -> throw new IllegalArgumentException("unsupported wire type " + wire);
      }
      if (pos > end) throw new IllegalArgumentException("truncated field");
    }
  }
}
