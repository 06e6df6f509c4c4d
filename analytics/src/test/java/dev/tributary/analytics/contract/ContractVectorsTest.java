package dev.tributary.analytics.contract;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tributary.analytics.Vectors;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/** The Java parser agrees with the TypeScript contract on every vector of records.json. */
class ContractVectorsTest {
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private final ContractParser parser = new ContractParser();

  @Test
  void vectorsMatchTheJavaConstants() throws Exception {
    JsonNode doc = Vectors.read("records.json");
    assertEquals("compatible", doc.get("mode").asText());
    assertEquals(ContractParser.EVENT_TIME_MIN_MS, doc.get("eventTimeMinMs").asLong());
    assertEquals(ContractParser.EVENT_TIME_MAX_MS, doc.get("eventTimeMaxMs").asLong());
    List<Integer> versions = new ArrayList<>();
    doc.get("supportedSchemaVersions").forEach(v -> versions.add(v.asInt()));
    assertEquals(versions, java.util.Arrays.stream(ContractParser.SUPPORTED_SCHEMA_VERSIONS).boxed().toList());
    assertTrue(ContractParser.CURRENCIES.contains("EUR") && ContractParser.CURRENCIES.size() > 100);
  }

  @TestFactory
  Stream<DynamicTest> everyVector() throws Exception {
    JsonNode doc = Vectors.read("records.json");
    List<DynamicTest> tests = new ArrayList<>();
    for (JsonNode v : doc.get("vectors")) {
      tests.add(DynamicTest.dynamicTest(v.get("name").asText(), () -> check(v)));
    }
    assertTrue(tests.size() > 100, "expected the full vector set");
    return tests.stream();
  }

  private void check(JsonNode v) throws Exception {
    byte[] bytes =
        v.has("base64")
            ? Base64.getDecoder().decode(v.get("base64").asText())
            : v.get("text").asText().getBytes(StandardCharsets.UTF_8);
    if (v.get("valid").asBoolean()) {
      ContractRecord record;
      try {
        record = parser.parse(bytes);
      } catch (ContractException e) {
        fail("expected valid, got " + e.getMessage());
        return;
      }
      assertJsonEquals(v.get("expected"), toJson(record), "");
    } else {
      try {
        ContractRecord record = parser.parse(bytes);
        fail("expected " + v.get("code").asText() + ", parsed " + record);
      } catch (ContractException e) {
        assertEquals(v.get("code").asText(), e.code(), e.getMessage());
        List<String> paths = new ArrayList<>();
        v.get("paths").forEach(p -> paths.add(p.asText()));
        assertTrue(paths.contains(e.path()), "path " + e.path() + " not among " + paths);
      }
    }
  }

  /** Numbers compare as doubles (JavaScript has one number type); objects ignore key order. */
  static void assertJsonEquals(JsonNode expected, JsonNode actual, String path) {
    if (expected.isNumber()) {
      assertTrue(actual.isNumber(), path + ": expected a number, got " + actual);
      assertEquals(expected.doubleValue(), actual.doubleValue(), path);
      return;
    }
    if (expected.isObject()) {
      assertTrue(actual.isObject(), path + ": expected an object, got " + actual);
      assertEquals(fieldNames(expected), fieldNames(actual), path + ": keys");
      for (Iterator<Map.Entry<String, JsonNode>> it = expected.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        assertJsonEquals(e.getValue(), actual.get(e.getKey()), path + "." + e.getKey());
      }
      return;
    }
    assertEquals(expected, actual, path);
  }

  private static java.util.Set<String> fieldNames(JsonNode node) {
    java.util.Set<String> names = new java.util.TreeSet<>();
    node.fieldNames().forEachRemaining(names::add);
    return names;
  }

  /** The record in wire shape, as the TypeScript decoder returns it. */
  static JsonNode toJson(ContractRecord r) {
    ObjectNode o = MAPPER.createObjectNode();
    o.put("id", r.id());
    o.put("schema_version", r.schemaVersion());
    o.put("type", r.type());
    o.put("device_id", r.deviceId());
    o.put("partition_key", r.partitionKey());
    o.put("event_time", r.eventTime());
    ObjectNode p = o.putObject("payload");
    if (r instanceof ContractRecord.Telemetry t) {
      p.put("metric", t.metric());
      p.put("value", t.value());
      p.put("unit", t.unit());
      t.tags().ifPresent(tags -> {
        ObjectNode n = p.putObject("tags");
        tags.forEach(n::put);
      });
    } else if (r instanceof ContractRecord.Transaction x) {
      p.put("card_token", x.cardToken());
      p.put("merchant_id", x.merchantId());
      x.merchantCategory().ifPresent(c -> p.put("merchant_category", c));
      p.put("amount_minor", x.amountMinor());
      p.put("currency", x.currency());
      x.location().ifPresent(l -> {
        ObjectNode n = p.putObject("location");
        n.put("lat", l.lat());
        n.put("lon", l.lon());
        l.country().ifPresent(c -> n.put("country", c));
      });
      p.put("channel", x.channel());
    } else if (r instanceof ContractRecord.Log l) {
      p.put("level", l.level());
      p.put("message", l.message());
      p.put("source", l.source());
      l.fields().ifPresent(fields -> {
        ObjectNode n = p.putObject("fields");
        fields.forEach(n::put);
      });
    }
    return o;
  }
}
