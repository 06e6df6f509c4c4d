package dev.tributary.analytics.source;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.tributary.analytics.JobConfig;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;

class KinesisEfoSourceTest {
  @Test
  void selfManagedConsumerWithLocalEndpointAndCredentials() {
    Properties source = new Properties();
    source.setProperty("stream.name", "s");
    source.setProperty("aws.endpoint", "http://127.0.0.1:4567");
    source.setProperty("starting.position", "LATEST");
    Properties p =
        KinesisEfoSource.properties(JobConfig.from(Map.of(JobConfig.SOURCE_GROUP, source)), "arn:consumer");
    assertEquals("EFO", p.getProperty("flink.stream.recordpublisher"));
    assertEquals("NONE", p.getProperty("flink.stream.efo.registration"));
    assertEquals("arn:consumer", p.getProperty("flink.stream.efo.consumerarn.s"));
    assertEquals("LATEST", p.getProperty("flink.stream.initpos"));
    assertEquals("http://127.0.0.1:4567", p.getProperty("aws.endpoint"));
    assertEquals("BASIC", p.getProperty("aws.credentials.provider"));
  }

  @Test
  void defaultCredentialChainOnAws() {
    Properties p = KinesisEfoSource.properties(JobConfig.defaults(), "arn:consumer");
    assertEquals("AUTO", p.getProperty("aws.credentials.provider"));
    assertNull(p.getProperty("aws.endpoint"));
  }
}
