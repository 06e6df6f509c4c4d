package dev.tributary.analytics.sink;

import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.metrics.Counter;
import software.amazon.awssdk.services.dynamodb.DynamoDbClient;
import software.amazon.awssdk.services.dynamodb.model.AttributeValue;
import software.amazon.awssdk.services.dynamodb.model.BatchWriteItemResponse;
import software.amazon.awssdk.services.dynamodb.model.PutRequest;
import software.amazon.awssdk.services.dynamodb.model.WriteRequest;

/**
 * Upserts items into one DynamoDB table with BatchWriteItem (PutItem semantics: the whole item is
 * replaced). At-least-once: the buffer is flushed before every checkpoint barrier and at end of input,
 * and unprocessed items are retried with backoff; since keys are deterministic, a replay rewrites the
 * same items, which makes the table's content exactly-once. Items with the same key inside one batch
 * are collapsed to the last one (BatchWriteItem rejects duplicates).
 */
public final class DynamoDbUpsertSink<T> implements Sink<T> {
  private static final long serialVersionUID = 1L;
  private static final int MAX_BATCH = 25;
  private static final int MAX_ATTEMPTS = 10;

  /** Maps an element to its item; must be deterministic in the item's key. */
  @FunctionalInterface
  public interface ItemMapper<T> extends Serializable {
    Map<String, AttributeValue> toItem(T element);
  }

  private final DynamoDbSettings settings;
  private final ItemMapper<T> mapper;
  private final String metricName;

  public DynamoDbUpsertSink(DynamoDbSettings settings, ItemMapper<T> mapper, String metricName) {
    this.settings = settings;
    this.mapper = mapper;
    this.metricName = metricName;
  }

  @Override
  @SuppressWarnings("deprecation")
  public SinkWriter<T> createWriter(InitContext context) throws IOException {
    Counter written = context.metricGroup().counter(metricName);
    return new Writer<>(settings.tableName(), settings.client(), mapper, written);
  }

  static final class Writer<T> implements SinkWriter<T> {
    private final String table;
    private final DynamoDbClient client;
    private final ItemMapper<T> mapper;
    private final Counter written;
    private final LinkedHashMap<String, Map<String, AttributeValue>> buffer = new LinkedHashMap<>();

    Writer(String table, DynamoDbClient client, ItemMapper<T> mapper, Counter written) {
      this.table = table;
      this.client = client;
      this.mapper = mapper;
      this.written = written;
    }

    @Override
    public void write(T element, Context context) throws IOException, InterruptedException {
      Map<String, AttributeValue> item = mapper.toItem(element);
      String key = item.get("pk").s() + "\u0000" + item.get("sk").n();
      buffer.remove(key);
      buffer.put(key, item);
      if (buffer.size() >= MAX_BATCH) flush(false);
    }

    @Override
    public void flush(boolean endOfInput) throws IOException, InterruptedException {
      while (!buffer.isEmpty()) {
        List<WriteRequest> batch = new ArrayList<>(MAX_BATCH);
        var it = buffer.values().iterator();
        while (it.hasNext() && batch.size() < MAX_BATCH) {
          batch.add(WriteRequest.builder().putRequest(PutRequest.builder().item(it.next()).build()).build());
          it.remove();
        }
        writeBatch(batch);
      }
    }

    private void writeBatch(List<WriteRequest> batch) throws IOException, InterruptedException {
      List<WriteRequest> pending = batch;
      for (int attempt = 1; ; attempt++) {
        BatchWriteItemResponse response;
        List<WriteRequest> requests = pending;
        try {
          response = client.batchWriteItem(b -> b.requestItems(Map.of(table, requests)));
        } catch (RuntimeException e) {
          if (attempt >= MAX_ATTEMPTS) throw new IOException("BatchWriteItem to " + table + " failed", e);
          backoff(attempt);
          continue;
        }
        List<WriteRequest> unprocessed = response.unprocessedItems().getOrDefault(table, List.of());
        written.inc(pending.size() - unprocessed.size());
        if (unprocessed.isEmpty()) return;
        if (attempt >= MAX_ATTEMPTS) {
          throw new IOException(unprocessed.size() + " items still unprocessed after " + attempt + " attempts");
        }
        pending = unprocessed;
        backoff(attempt);
      }
    }

    private static void backoff(int attempt) throws InterruptedException {
      Thread.sleep(Math.min(5_000L, 50L << Math.min(attempt, 7)));
    }

    @Override
    public void close() throws Exception {
      client.close();
    }
  }
}
