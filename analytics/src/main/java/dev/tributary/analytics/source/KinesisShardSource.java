package dev.tributary.analytics.source;

import dev.tributary.analytics.JobConfig;
import dev.tributary.analytics.kpl.KplDeaggregator;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeHint;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.metrics.Counter;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.source.RichParallelSourceFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.services.kinesis.KinesisClient;
import software.amazon.awssdk.services.kinesis.model.ExpiredIteratorException;
import software.amazon.awssdk.services.kinesis.model.GetRecordsResponse;
import software.amazon.awssdk.services.kinesis.model.ListShardsRequest;
import software.amazon.awssdk.services.kinesis.model.ListShardsResponse;
import software.amazon.awssdk.services.kinesis.model.ProvisionedThroughputExceededException;
import software.amazon.awssdk.services.kinesis.model.Record;
import software.amazon.awssdk.services.kinesis.model.Shard;
import software.amazon.awssdk.services.kinesis.model.ShardIteratorType;

/**
 * The POLLING reader ({@code KinesisSource.reader.type=POLLING}; the default is the EFO reader,
 * {@link KinesisEfoSource}): reads a Kinesis stream with GetRecords polling, deaggregates KPL records
 * and emits user record bytes. Exactly-once w.r.t. Flink state: the last sequence number of every
 * shard is checkpointed (union list state, so any parallelism can restore), and all user records of one
 * Kinesis record are emitted under the checkpoint lock, so a restore resumes AFTER_SEQUENCE_NUMBER.
 * Shards are spread over subtasks by hash; new shards (resharding) are picked up every 30 s from
 * TRIM_HORIZON. Limits: polling (no EFO), no parent-before-child ordering across a reshard.
 */
public final class KinesisShardSource extends RichParallelSourceFunction<byte[]> implements CheckpointedFunction {
  private static final long serialVersionUID = 1L;
  private static final Logger LOG = LoggerFactory.getLogger(KinesisShardSource.class);
  private static final long DISCOVERY_INTERVAL_MS = 30_000;

  private final JobConfig config;
  private volatile boolean running = true;
  private transient ListState<Tuple2<String, String>> offsetsState;
  private transient Map<String, String> offsets;
  private transient Map<String, String> iterators;
  private transient KinesisClient client;
  private transient Counter received;

  public KinesisShardSource(JobConfig config) {
    this.config = config;
  }

  @Override
  public void initializeState(FunctionInitializationContext context) throws Exception {
    offsetsState =
        context
            .getOperatorStateStore()
            .getUnionListState(
                new ListStateDescriptor<>("shard-offsets", TypeInformation.of(new TypeHint<Tuple2<String, String>>() {})));
    offsets = new HashMap<>();
    if (context.isRestored()) {
      for (Tuple2<String, String> t : offsetsState.get()) offsets.put(t.f0, t.f1);
    }
  }

  @Override
  public void snapshotState(FunctionSnapshotContext context) throws Exception {
    offsetsState.clear();
    // Union state: every subtask restores the whole map; keep only this subtask's shards here.
    for (Map.Entry<String, String> e : offsets.entrySet()) offsetsState.add(Tuple2.of(e.getKey(), e.getValue()));
  }



  private boolean mine(String shardId) {
    int parallelism = getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks();
    int index = getRuntimeContext().getTaskInfo().getIndexOfThisSubtask();
    return Math.floorMod(shardId.hashCode(), parallelism) == index;
  }

  private List<String> listShards() {
    List<String> ids = new ArrayList<>();
    String token = null;
    do {
      ListShardsRequest request =
          token == null
              ? ListShardsRequest.builder().streamName(config.streamName()).build()
              : ListShardsRequest.builder().nextToken(token).build();
      ListShardsResponse response = client.listShards(request);
      for (Shard shard : response.shards()) ids.add(shard.shardId());
      token = response.nextToken();
    } while (token != null);
    return ids;
  }

  private String iterator(String shardId, boolean discoveredLater) {
    String after = offsets.get(shardId);
    if (after != null) {
      return client
          .getShardIterator(
              b ->
                  b.streamName(config.streamName())
                      .shardId(shardId)
                      .shardIteratorType(ShardIteratorType.AFTER_SEQUENCE_NUMBER)
                      .startingSequenceNumber(after))
          .shardIterator();
    }
    ShardIteratorType type =
        discoveredLater ? ShardIteratorType.TRIM_HORIZON : ShardIteratorType.fromValue(config.startingPosition());
    return client
        .getShardIterator(b -> b.streamName(config.streamName()).shardId(shardId).shardIteratorType(type))
        .shardIterator();
  }

  @Override
  public void run(SourceContext<byte[]> ctx) throws Exception {
    client = KinesisClients.create(config);
    received = getRuntimeContext().getMetricGroup().counter("kinesisRecordsReceived");
    iterators = new LinkedHashMap<>();
    Map<String, Boolean> finished = new HashMap<>();
    long lastDiscovery = 0;
    boolean firstDiscovery = true;
    while (running) {
      long now = System.currentTimeMillis();
      if (now - lastDiscovery >= DISCOVERY_INTERVAL_MS) {
        for (String shardId : listShards()) {
          if (mine(shardId) && !iterators.containsKey(shardId) && !finished.containsKey(shardId)) {
            iterators.put(shardId, iterator(shardId, !firstDiscovery));
          }
        }
        firstDiscovery = false;
        lastDiscovery = now;
      }
      boolean any = false;
      for (Map.Entry<String, String> entry : new ArrayList<>(iterators.entrySet())) {
        String shardId = entry.getKey();
        GetRecordsResponse response;
        try {
          response = client.getRecords(b -> b.shardIterator(entry.getValue()).limit(1000));
        } catch (ExpiredIteratorException e) {
          iterators.put(shardId, iterator(shardId, false));
          continue;
        } catch (ProvisionedThroughputExceededException e) {
          continue;
        }
        for (Record record : response.records()) {
          List<KplDeaggregator.UserRecord> users =
              KplDeaggregator.deaggregate(record.partitionKey(), record.data().asByteArrayUnsafe());
          synchronized (ctx.getCheckpointLock()) {
            for (KplDeaggregator.UserRecord user : users) ctx.collect(user.data());
            offsets.put(shardId, record.sequenceNumber());
          }
          received.inc();
          any = true;
        }
        if (response.nextShardIterator() == null) {
          LOG.info("shard {} is closed and fully read", shardId);
          iterators.remove(shardId);
          finished.put(shardId, true);
        } else {
          iterators.put(shardId, response.nextShardIterator());
        }
      }
      if (!any) Thread.sleep(config.pollIntervalMs());
    }
  }

  @Override
  public void cancel() {
    running = false;
  }

  @Override
  public void close() throws Exception {
    if (client != null) client.close();
    super.close();
  }
}
