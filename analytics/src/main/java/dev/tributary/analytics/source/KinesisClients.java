package dev.tributary.analytics.source;

import dev.tributary.analytics.JobConfig;
import java.net.URI;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.kinesis.KinesisClient;
import software.amazon.awssdk.services.kinesis.KinesisClientBuilder;

/** The job's synchronous Kinesis client: the local endpoint with static local keys, else AWS's default chain. */
final class KinesisClients {
  private KinesisClients() {}

  static KinesisClient create(JobConfig config) {
    KinesisClientBuilder builder = KinesisClient.builder().region(Region.of(config.region()));
    if (!config.kinesisEndpoint().isBlank()) {
      builder
          .endpointOverride(URI.create(config.kinesisEndpoint()))
          .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create("local", "local")));
    } else {
      builder.credentialsProvider(DefaultCredentialsProvider.create());
    }
    return builder.build();
  }
}
