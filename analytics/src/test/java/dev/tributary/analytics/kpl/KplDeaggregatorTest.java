package dev.tributary.analytics.kpl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tributary.analytics.Vectors;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Aggregates built by shared/kinesis/aggregation.ts split back into the same user records. */
class KplDeaggregatorTest {
  @Test
  void splitsTypeScriptAggregates() throws Exception {
    JsonNode doc = Vectors.read("kpl.json");
    for (JsonNode c : doc.get("cases")) {
      List<KplDeaggregator.UserRecord> out = new ArrayList<>();
      for (JsonNode a : c.get("aggregated")) {
        out.addAll(
            KplDeaggregator.deaggregate(a.get("partitionKey").asText(), Base64.getDecoder().decode(a.get("base64").asText())));
      }
      JsonNode expected = c.get("records");
      assertEquals(expected.size(), out.size(), c.get("name").asText());
      for (int i = 0; i < out.size(); i++) {
        assertEquals(expected.get(i).get("partitionKey").asText(), out.get(i).partitionKey());
        assertArrayEquals(Base64.getDecoder().decode(expected.get(i).get("base64").asText()), out.get(i).data());
      }
    }
  }

  @Test
  void plainAndCorruptBlobsPassThroughAsOneRecord() throws Exception {
    byte[] plain = "{\"a\":1}".getBytes(StandardCharsets.UTF_8);
    assertFalse(KplDeaggregator.isAggregated(plain));
    assertEquals(1, KplDeaggregator.deaggregate("k", plain).size());
    JsonNode first = Vectors.read("kpl.json").get("cases").get(0).get("aggregated").get(0);
    byte[] corrupt = Base64.getDecoder().decode(first.get("base64").asText());
    corrupt[corrupt.length - 1] ^= 1;
    List<KplDeaggregator.UserRecord> out = KplDeaggregator.deaggregate("k", corrupt);
    assertEquals(1, out.size());
    assertArrayEquals(corrupt, out.get(0).data());
  }
}
