package dev.tributary.analytics.source;

import dev.tributary.analytics.JobConfig;
import java.util.Properties;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.connectors.kinesis.FlinkKinesisConsumer;
import org.apache.flink.streaming.connectors.kinesis.config.AWSConfigConstants;
import org.apache.flink.streaming.connectors.kinesis.config.ConsumerConfigConstants;
import org.apache.flink.streaming.connectors.kinesis.serialization.KinesisDeserializationSchema;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.services.kinesis.KinesisClient;

/**
 * The EFO reader: Apache Flink's Kinesis connector ({@code flink-connector-kinesis}, {@link
 * FlinkKinesisConsumer}) with its enhanced fan-out record publisher, reading through the stream
 * consumer that serverless.yml declares ({@code AnalyticsConsumer}). The consumer's lifecycle is
 * self-managed (registration type NONE): the job never registers or deregisters consumers; it uses
 * {@code efo.consumer.arn}, or looks the ARN up from {@code efo.consumer.name} once at start.
 *
 * <p>The connector deaggregates KPL records itself and checkpoints shard sequence numbers (exactly
 * once w.r.t. Flink state). Emits user record bytes, like {@link KinesisShardSource}.
 *
 * <p>SubscribeToShard uses the connector's HTTP/2 client (the connector does not apply
 * {@code aws.http.protocol.version} to its EFO client), so locally {@code aws.endpoint} must be an
 * endpoint that speaks HTTP/2 cleartext: the Kinesis emulator itself, not the HTTP/1.1 limits proxy.
 */
public final class KinesisEfoSource {
  private static final Logger LOG = LoggerFactory.getLogger(KinesisEfoSource.class);

  private KinesisEfoSource() {}

  public static FlinkKinesisConsumer<byte[]> create(JobConfig config) {
    String consumerArn = config.efoConsumerArn().isBlank() ? lookUpConsumerArn(config) : config.efoConsumerArn();
    LOG.info("EFO reader on {} through consumer {}", config.streamName(), consumerArn);
    return new FlinkKinesisConsumer<>(config.streamName(), new UserRecordBytes(), properties(config, consumerArn));
  }

  static Properties properties(JobConfig config, String consumerArn) {
    Properties p = new Properties();
    p.setProperty(AWSConfigConstants.AWS_REGION, config.region());
    if (!config.kinesisEndpoint().isBlank()) {
      p.setProperty(AWSConfigConstants.AWS_ENDPOINT, config.kinesisEndpoint());
      p.setProperty(AWSConfigConstants.AWS_CREDENTIALS_PROVIDER, "BASIC");
      p.setProperty(AWSConfigConstants.AWS_ACCESS_KEY_ID, "local");
      p.setProperty(AWSConfigConstants.AWS_SECRET_ACCESS_KEY, "local");
    } else {
      p.setProperty(AWSConfigConstants.AWS_CREDENTIALS_PROVIDER, "AUTO");
    }
    p.setProperty(ConsumerConfigConstants.STREAM_INITIAL_POSITION, config.startingPosition());
    p.setProperty(ConsumerConfigConstants.RECORD_PUBLISHER_TYPE, ConsumerConfigConstants.RecordPublisherType.EFO.name());
    p.setProperty(
        ConsumerConfigConstants.EFO_REGISTRATION_TYPE, ConsumerConfigConstants.EFORegistrationType.NONE.name());
    p.setProperty(ConsumerConfigConstants.EFO_CONSUMER_NAME, config.efoConsumerName());
    p.setProperty(ConsumerConfigConstants.efoConsumerArn(config.streamName()), consumerArn);
    return p;
  }

  /** DescribeStreamSummary + DescribeStreamConsumer: the ARN of the stack's consumer by its name. */
  static String lookUpConsumerArn(JobConfig config) {
    try (KinesisClient client = KinesisClients.create(config)) {
      String streamArn =
          client.describeStreamSummary(b -> b.streamName(config.streamName())).streamDescriptionSummary().streamARN();
      return client
          .describeStreamConsumer(b -> b.streamARN(streamArn).consumerName(config.efoConsumerName()))
          .consumerDescription()
          .consumerARN();
    } catch (RuntimeException e) {
      throw new IllegalStateException(
          "EFO consumer '" + config.efoConsumerName() + "' of stream " + config.streamName()
              + " not found (serverless.yml declares it as AnalyticsConsumer); set KinesisSource.efo.consumer.arn"
              + " or KinesisSource.reader.type=POLLING",
          e);
    }
  }

  /** The connector hands over deaggregated user records; the pipeline parses the bytes itself. */
  static final class UserRecordBytes implements KinesisDeserializationSchema<byte[]> {
    private static final long serialVersionUID = 1L;

    @Override
    public byte[] deserialize(
        byte[] recordValue, String partitionKey, String seqNum, long approxArrivalTimestamp, String stream, String shardId) {
      return recordValue;
    }

    @Override
    public TypeInformation<byte[]> getProducedType() {
      return PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO;
    }
  }
}
