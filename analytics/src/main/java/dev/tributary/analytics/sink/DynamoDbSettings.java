package dev.tributary.analytics.sink;

import java.io.Serializable;
import java.net.URI;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.dynamodb.DynamoDbClient;
import software.amazon.awssdk.services.dynamodb.DynamoDbClientBuilder;

/** Where the sink writes: table, region and, locally, an endpoint override (DynamoDB Local). */
public record DynamoDbSettings(String tableName, String region, String endpoint) implements Serializable {
  public DynamoDbClient client() {
    DynamoDbClientBuilder builder =
        DynamoDbClient.builder().region(Region.of(region));
    if (endpoint != null && !endpoint.isBlank()) {
      // DynamoDB Local accepts any credentials; real endpoints use the default chain (the app's role).
      builder
          .endpointOverride(URI.create(endpoint))
          .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create("local", "local")));
    } else {
      builder.credentialsProvider(DefaultCredentialsProvider.create());
    }
    return builder.build();
  }
}
