package dev.tributary.analytics.sink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.tributary.analytics.JobConfig;
import dev.tributary.analytics.aggregate.LateObservation;
import dev.tributary.analytics.aggregate.Observation;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.connector.aws.config.AWSConfigConstants;
import org.apache.flink.connector.dynamodb.sink.DynamoDbWriteRequest;
import org.apache.flink.connector.dynamodb.sink.DynamoDbWriteRequestType;
import org.junit.jupiter.api.Test;

/** The connector's configuration and element converters; the writes themselves: {@code DynamoDbSinkTest}. */
class AggregatesTableSinkTest {
  static JobConfig config(Properties sink) {
    Properties source = new Properties();
    source.setProperty("aws.region", "eu-west-1");
    return JobConfig.from(Map.of(JobConfig.SOURCE_GROUP, source, JobConfig.SINK_GROUP, sink));
  }

  @Test
  void convertersPutTheItemsOfAggregateItems() {
    DynamoDbWriteRequest window = AggregatesTableSink.aggregateItems(86_400).apply(AggregateItemsTest.window(), null);
    assertEquals(DynamoDbWriteRequestType.PUT, window.getType());
    assertEquals(AggregateItems.aggregate(AggregateItemsTest.window(), 86_400), window.getItem());

    Observation o = new Observation("device#s1#temperature", 1_795_435_230_000L, 7.5, "0f8e2a4c-1b2d-4e3f-9a8b-7c6d5e4f3a2b");
    DynamoDbWriteRequest late = AggregatesTableSink.lateItems(3_600).apply(new LateObservation("5m", o), null);
    assertEquals(DynamoDbWriteRequestType.PUT, late.getType());
    assertEquals(AggregateItems.late("5m", o, 3_600), late.getItem());
    assertEquals(List.of("pk", "sk"), AggregatesTableSink.KEY);
  }

  @Test
  void localEndpointUsesStaticCredentialsAndTheSinkGroupRegion() {
    Properties sink = new Properties();
    sink.setProperty("aws.endpoint", "http://127.0.0.1:8000");
    sink.setProperty("aws.region", "us-west-2");
    Properties p = AggregatesTableSink.clientProperties(config(sink));
    assertEquals("us-west-2", p.getProperty(AWSConfigConstants.AWS_REGION));
    assertEquals("http://127.0.0.1:8000", p.getProperty(AWSConfigConstants.AWS_ENDPOINT));
    assertEquals("BASIC", p.getProperty(AWSConfigConstants.AWS_CREDENTIALS_PROVIDER));
    assertEquals("local", p.getProperty(AWSConfigConstants.AWS_ACCESS_KEY_ID));
    assertEquals("local", p.getProperty(AWSConfigConstants.AWS_SECRET_ACCESS_KEY));
  }

  @Test
  void onAwsTheDefaultChainAndTheSourceRegionByDefault() {
    Properties p = AggregatesTableSink.clientProperties(config(new Properties()));
    assertEquals("eu-west-1", p.getProperty(AWSConfigConstants.AWS_REGION));
    assertEquals("AUTO", p.getProperty(AWSConfigConstants.AWS_CREDENTIALS_PROVIDER));
    assertFalse(p.containsKey(AWSConfigConstants.AWS_ENDPOINT));
  }
}
