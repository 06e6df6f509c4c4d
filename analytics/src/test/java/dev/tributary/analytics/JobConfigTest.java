package dev.tributary.analytics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;

class JobConfigTest {
  static JobConfig source(String... keyValues) {
    Properties p = new Properties();
    for (int i = 0; i < keyValues.length; i += 2) p.setProperty(keyValues[i], keyValues[i + 1]);
    return JobConfig.from(Map.of(JobConfig.SOURCE_GROUP, p));
  }

  @Test
  void readsThroughEfoByDefaultWithTheStackConsumerName() {
    JobConfig config = JobConfig.defaults();
    assertEquals(JobConfig.ReaderType.EFO, config.readerType());
    assertEquals("analytics", config.efoConsumerName());
    assertEquals("", config.efoConsumerArn());
  }

  @Test
  void readerTypeAndConsumerAreConfigurable() {
    JobConfig config = source("reader.type", "POLLING", "efo.consumer.name", "other", "efo.consumer.arn", "arn:x");
    assertEquals(JobConfig.ReaderType.POLLING, config.readerType());
    assertEquals("other", config.efoConsumerName());
    assertEquals("arn:x", config.efoConsumerArn());
  }

  @Test
  void rejectsAnUnknownReaderType() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> source("reader.type", "KCL"));
    assertTrue(e.getMessage().contains("KinesisSource.reader.type must be EFO or POLLING"), e.getMessage());
  }
}
