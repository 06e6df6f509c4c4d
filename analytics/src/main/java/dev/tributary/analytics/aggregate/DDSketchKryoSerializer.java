package dev.tributary.analytics.aggregate;

import com.datadoghq.sketch.ddsketch.DDSketch;
import com.datadoghq.sketch.ddsketch.encoding.ByteArrayInput;
import com.datadoghq.sketch.ddsketch.encoding.GrowingByteArrayOutput;
import com.datadoghq.sketch.ddsketch.store.UnboundedSizeDenseStore;
import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import java.io.IOException;
import java.io.Serializable;

/** Checkpoints a DDSketch in its own portable binary encoding (mapping + stores). */
public final class DDSketchKryoSerializer extends Serializer<DDSketch> implements Serializable {
  private static final long serialVersionUID = 1L;

  @Override
  public void write(Kryo kryo, Output output, DDSketch sketch) {
    GrowingByteArrayOutput encoded = GrowingByteArrayOutput.withDefaultInitialCapacity();
    try {
      sketch.encode(encoded, false);
    } catch (IOException e) {
      throw new IllegalStateException("cannot encode a DDSketch", e);
    }
    byte[] bytes = encoded.trimmedCopy();
    output.writeInt(bytes.length, true);
    output.writeBytes(bytes);
  }

  @Override
  public DDSketch read(Kryo kryo, Input input, Class<DDSketch> type) {
    int length = input.readInt(true);
    byte[] bytes = input.readBytes(length);
    try {
      return DDSketch.decode(ByteArrayInput.wrap(bytes), UnboundedSizeDenseStore::new);
    } catch (IOException e) {
      throw new IllegalStateException("cannot decode a checkpointed DDSketch", e);
    }
  }

  @Override
  public DDSketch copy(Kryo kryo, DDSketch original) {
    return original.copy();
  }
}
