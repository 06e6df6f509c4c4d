package dev.tributary.analytics;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;

/** Collects a stream's elements into a JVM-wide list by name (the MiniCluster runs in this JVM). */
public final class CollectSink<T> implements Sink<T> {
  private static final long serialVersionUID = 1L;
  private static final Map<String, List<Object>> RESULTS = new ConcurrentHashMap<>();

  private final String name;

  public CollectSink(String name) {
    this.name = name;
    RESULTS.put(name, java.util.Collections.synchronizedList(new ArrayList<>()));
  }

  @SuppressWarnings("unchecked")
  public static <T> List<T> results(String name) {
    synchronized (RESULTS.get(name)) {
      return new ArrayList<>((List<T>) (List<?>) RESULTS.get(name));
    }
  }

  @Override
  @SuppressWarnings("deprecation")
  public SinkWriter<T> createWriter(InitContext context) {
    List<Object> out = RESULTS.get(name);
    return new SinkWriter<>() {
      @Override
      public void write(T element, Context ctx) {
        out.add(element);
      }

      @Override
      public void flush(boolean endOfInput) {}

      @Override
      public void close() {}
    };
  }
}
