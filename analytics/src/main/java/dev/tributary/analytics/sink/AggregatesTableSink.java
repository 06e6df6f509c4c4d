package dev.tributary.analytics.sink;

import dev.tributary.analytics.JobConfig;
import dev.tributary.analytics.aggregate.LateObservation;
import dev.tributary.analytics.aggregate.WindowAggregate;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.connector.aws.config.AWSConfigConstants;
import org.apache.flink.connector.base.sink.writer.ElementConverter;
import org.apache.flink.connector.dynamodb.sink.DynamoDbSink;
import org.apache.flink.connector.dynamodb.sink.DynamoDbWriteRequest;
import org.apache.flink.connector.dynamodb.sink.DynamoDbWriteRequestType;
import org.apache.flink.metrics.Counter;
import software.amazon.awssdk.services.dynamodb.model.AttributeValue;

/**
 * The job's writes to the AggregatesTable: Apache Flink's DynamoDB connector ({@link DynamoDbSink},
 * BatchWriteItem of PutRequests, i.e. whole-item upserts) with element converters that build the
 * items of {@link AggregateItems}. Keys are deterministic, so a replay after a restart from a
 * checkpoint rewrites the same items (at-least-once delivery + idempotent upserts = the table's
 * content is exactly-once).
 *
 * <ul>
 *   <li>{@code overwriteByPartitionKeys = [pk, sk]}: the connector keeps one write per item in a
 *       batch (the last one; BatchWriteItem rejects duplicate keys).
 *   <li>One request in flight per writer: batches reach the table in the order the items were
 *       written, so a late re-firing ({@code revision} + 1) is never overwritten by an older
 *       revision that was still on its way; failed entries are retried before newer ones.
 *   <li>Client: {@code AggregatesSink} {@code aws.region}, and locally {@code aws.endpoint}
 *       (DynamoDB Local, any static credentials); without an endpoint the default credentials chain
 *       (the application's role on Managed Flink).
 * </ul>
 */
public final class AggregatesTableSink {
  /** The table's key attributes (serverless.yml AggregatesTable: pk HASH, sk RANGE). */
  static final List<String> KEY = List.of("pk", "sk");

  private AggregatesTableSink() {}

  /** Window aggregates, counted as {@code aggregateItemsWritten}. */
  public static Sink<WindowAggregate> aggregates(JobConfig config) {
    return new FlushedAndCounted<>(connector(config, aggregateItems(config.ttlSeconds())), "aggregateItemsWritten");
  }

  /** Records past the allowed lateness ({@code late#…} items), counted as {@code lateItemsWritten}. */
  public static Sink<LateObservation> late(JobConfig config) {
    return new FlushedAndCounted<>(connector(config, lateItems(config.ttlSeconds())), "lateItemsWritten");
  }

  /** PutRequest of the window's item ({@link AggregateItems#aggregate}). */
  static ElementConverter<WindowAggregate, DynamoDbWriteRequest> aggregateItems(long ttlSeconds) {
    return (w, context) -> put(AggregateItems.aggregate(w, ttlSeconds));
  }

  /** PutRequest of the late record's item ({@link AggregateItems#late}). */
  static ElementConverter<LateObservation, DynamoDbWriteRequest> lateItems(long ttlSeconds) {
    return (l, context) -> put(AggregateItems.late(l.windowSize, l.observation, ttlSeconds));
  }

  static <T> DynamoDbSink<T> connector(JobConfig config, ElementConverter<T, DynamoDbWriteRequest> items) {
    return DynamoDbSink.<T>builder()
        .setTableName(config.aggregatesTable())
        .setElementConverter(items)
        .setOverwriteByPartitionKeys(KEY)
        .setMaxInFlightRequests(1)
        .setDynamoDbProperties(clientProperties(config))
        .build();
  }

  static DynamoDbWriteRequest put(Map<String, AttributeValue> item) {
    return DynamoDbWriteRequest.builder().setType(DynamoDbWriteRequestType.PUT).setItem(item).build();
  }

  /** The connector's client settings (flink-connector-aws-base {@link AWSConfigConstants}). */
  static Properties clientProperties(JobConfig config) {
    Properties p = new Properties();
    p.setProperty(AWSConfigConstants.AWS_REGION, config.dynamoDbRegion());
    if (!config.dynamoDbEndpoint().isBlank()) {
      // DynamoDB Local accepts any credentials.
      p.setProperty(AWSConfigConstants.AWS_ENDPOINT, config.dynamoDbEndpoint());
      p.setProperty(AWSConfigConstants.AWS_CREDENTIALS_PROVIDER, AWSConfigConstants.CredentialProvider.BASIC.name());
      p.setProperty(AWSConfigConstants.AWS_ACCESS_KEY_ID, "local");
      p.setProperty(AWSConfigConstants.AWS_SECRET_ACCESS_KEY, "local");
    } else {
      p.setProperty(AWSConfigConstants.AWS_CREDENTIALS_PROVIDER, AWSConfigConstants.CredentialProvider.AUTO.name());
    }
    return p;
  }

  /**
   * Wraps the connector's sink: before every checkpoint barrier (and at end of input) its writer
   * sends everything it buffers and waits for DynamoDB's answers, and only then are those items
   * added to the {@code metric} counter. So the counter counts acknowledged writes (the connector's
   * own {@code numRecordsOut} counts batches when they are sent), and the table holds every result
   * up to the checkpoint, which is why the connector's writer state (unsent entries) stays empty
   * and is not kept. Between checkpoints the connector still flushes on its own (full batch,
   * {@code maxTimeInBufferMS}).
   */
  static final class FlushedAndCounted<T> implements Sink<T> {
    private static final long serialVersionUID = 1L;
    private final Sink<T> connector;
    private final String metric;

    FlushedAndCounted(Sink<T> connector, String metric) {
      this.connector = connector;
      this.metric = metric;
    }

    @Override
    @SuppressWarnings("deprecation")
    public SinkWriter<T> createWriter(InitContext context) throws IOException {
      Counter written = context.metricGroup().counter(metric);
      SinkWriter<T> writer = connector.createWriter(context);
      return new SinkWriter<>() {
        private long unacknowledged;

        @Override
        public void write(T element, Context elementContext) throws IOException, InterruptedException {
          writer.write(element, elementContext);
          unacknowledged++;
        }

        @Override
        public void flush(boolean endOfInput) throws IOException, InterruptedException {
          writer.flush(true);
          written.inc(unacknowledged);
          unacknowledged = 0;
        }

        @Override
        public void close() throws Exception {
          writer.close();
        }
      };
    }
  }
}
