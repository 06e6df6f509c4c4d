package dev.tributary.analytics.aggregate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.datadoghq.sketch.ddsketch.DDSketch;
import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import java.io.ByteArrayOutputStream;
import org.apache.flink.api.common.ExecutionConfig;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.junit.jupiter.api.Test;

class WindowAccumulatorTest {
  @Test
  void quantilesAreWithinTheSketchAccuracyOfTheExactRankValue() {
    WindowAccumulator acc = new WindowAccumulator();
    for (int i = 1; i <= 10_000; i++) acc.add(i);
    // DDSketch: relative error <= 1% of the value at rank q*(n-1).
    assertEquals(0.95 * 9_999 + 1, acc.quantile(0.95), 0.01 * 9_500 + 1);
    assertEquals(0.99 * 9_999 + 1, acc.quantile(0.99), 0.01 * 9_900 + 1);
    assertEquals(10_000, acc.count);
    assertEquals(50_005_000, acc.sum);
  }

  @Test
  void negativeValuesAndMergeWork() {
    WindowAccumulator a = new WindowAccumulator();
    WindowAccumulator b = new WindowAccumulator();
    for (int i = 1; i <= 100; i++) a.add(-i);
    for (int i = 1; i <= 100; i++) b.add(i);
    a.merge(b);
    assertEquals(200, a.count);
    assertEquals(-100, a.min);
    assertEquals(100, a.max);
    assertEquals(95, a.quantile(0.975), 2);
    assertTrue(a.quantile(0.01) < -95);
  }

  @Test
  @SuppressWarnings("deprecation")
  void checkpointSerializationRoundTripsTheSketch() throws Exception {
    WindowAccumulator acc = new WindowAccumulator();
    for (int i = 0; i < 1000; i++) acc.add(i * 0.5);
    ExecutionConfig config = new ExecutionConfig();
    config.registerTypeWithKryoSerializer(DDSketch.class, DDSketchKryoSerializer.class);
    TypeSerializer<WindowAccumulator> serializer =
        TypeInformation.of(WindowAccumulator.class).createSerializer(config);
    DataOutputSerializer out = new DataOutputSerializer(256);
    serializer.serialize(acc, out);
    WindowAccumulator back = serializer.deserialize(new DataInputDeserializer(out.getCopyOfBuffer()));
    assertEquals(acc.count, back.count);
    assertEquals(acc.sum, back.sum);
    assertEquals(acc.quantile(0.95), back.quantile(0.95));
    assertEquals(acc.quantile(0.99), back.quantile(0.99));
    back.add(10_000);
    assertEquals(1001, back.count);

    Kryo kryo = new Kryo();
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    Output o = new Output(bytes);
    new DDSketchKryoSerializer().write(kryo, o, acc.sketch);
    o.close();
    DDSketch sketch = new DDSketchKryoSerializer().read(kryo, new Input(bytes.toByteArray()), DDSketch.class);
    assertEquals(acc.sketch.getValueAtQuantile(0.5), sketch.getValueAtQuantile(0.5));
  }

  @Test
  void keepsTheUnitAndSaysMixedWhenAWindowSawTwo() {
    WindowAccumulator a = new WindowAccumulator();
    a.add(1299, "EUR");
    a.add(500, "EUR");
    assertEquals("EUR", a.unit);
    WindowAccumulator b = new WindowAccumulator();
    b.add(700, null);
    assertEquals("EUR", a.merge(b).unit);
    WindowAccumulator usd = new WindowAccumulator();
    usd.add(900, "USD");
    assertEquals(WindowAccumulator.MIXED, a.merge(usd).unit);
  }
}
