package dev.tributary.analytics.sink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.tributary.analytics.aggregate.Observation;
import dev.tributary.analytics.aggregate.WindowAggregate;
import java.util.Map;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.services.dynamodb.model.AttributeValue;

class AggregateItemsTest {
  static WindowAggregate window() {
    WindowAggregate w = new WindowAggregate();
    w.entity = "device#s1#temperature";
    w.windowSize = "1m";
    w.windowStart = 1_795_435_200_000L;
    w.windowEnd = 1_795_435_260_000L;
    w.count = 4;
    w.sum = 100;
    w.min = 10;
    w.max = 40;
    w.mean = 25;
    w.p95 = 40.2;
    w.p99 = 40.2;
    w.revision = 2;
    return w;
  }

  @Test
  void aggregateItemHasTheTableKeysAndTtl() {
    Map<String, AttributeValue> item = AggregateItems.aggregate(window(), 86_400);
    assertEquals("device#s1#temperature#1m", item.get("pk").s());
    assertEquals("1795435200000", item.get("sk").n());
    assertEquals("4", item.get("count").n());
    assertEquals("100", item.get("sum").n());
    assertEquals("40.2", item.get("p95").n());
    assertEquals(String.valueOf(1_795_435_260L + 86_400), item.get("expiresAt").n());
    assertEquals(item, AggregateItems.aggregate(window(), 86_400)); // deterministic: replays upsert
    assertEquals(null, item.get("unit")); // unknown unit: no attribute
  }

  @Test
  void aggregateItemCarriesTheUnit() {
    WindowAggregate w = window();
    w.unit = "Cel";
    assertEquals("Cel", AggregateItems.aggregate(w, 86_400).get("unit").s());
  }

  @Test
  void lateItemsAreKeyedByTimeAndRecordId() {
    Observation a = new Observation("card#tok_1", 1_795_435_215_000L, 99, "019ab4e1-8c2a-7d43-9f1e-000000000001");
    Observation b = new Observation("card#tok_1", 1_795_435_215_000L, 99, "019ab4e1-8c2a-7d43-9f1e-000000000002");
    Map<String, AttributeValue> ia = AggregateItems.late("1m", a, 60);
    assertEquals("late#card#tok_1#1m", ia.get("pk").s());
    assertEquals("1795435215000.0000000000001", ia.get("sk").n());
    assertNotEquals(ia.get("sk"), AggregateItems.late("1m", b, 60).get("sk"));
  }

  @Test
  void numbersAreDynamoDbText() {
    assertEquals("0", AggregateItems.number(-0.0));
    assertEquals("-40.25", AggregateItems.number(-40.25));
    assertEquals("9.9999999999999999999999999999999999999E+125", AggregateItems.number(Double.MAX_VALUE));
    assertEquals("-9.9999999999999999999999999999999999999E+125", AggregateItems.number(-1e200));
    assertEquals("0", AggregateItems.number(5e-324));
    assertEquals("1.5E+100", AggregateItems.number(1.5e100));
    assertEquals("0.000001", AggregateItems.number(1e-6));
    assertEquals("1299", AggregateItems.number(1299.0));
  }
}
