"""
Drives the official Python Stream Manager SDK (PyPI stream-manager) against a running agent, for
test/integration/stream-manager.test.ts. Port and token come from the SDK's own environment variables
(STREAM_MANAGER_SERVER_PORT, AWS_CONTAINER_AUTHORIZATION_TOKEN). Prints one JSON object on stdout.

  sm_python.py flows <stream> <kinesis stream>   the documented flows and a bad request per operation
  sm_python.py append-forever <stream> [<kinesis stream>]  creates <stream> (exported to Kinesis), appends until
                                                 the agent or the driver dies; prints each acked message
  sm_python.py export-options <kinesis stream>   a Kinesis export from start_sequence_number 5, and a disabled one
  sm_python.py enable <stream> <kinesis stream>  UpdateMessageStream enables the stream's export; waits for it
  sm_python.py partition-keys <kinesis stream>   messages without a key, and JSON ones naming partition_key
  sm_python.py errors                            too-large appends and reads, a full RejectNewData stream
  sm_python.py connect                           connects (with the environment's token); the exception if refused
  sm_python.py read-all <stream>                 every message of <stream>
  sm_python.py bandwidth <kinesis stream> <count> <size>  two exports (priority 10 and 1) under the agent's cap
  sm_python.py whoami                            the port taken from the environment, the streams listed there
  sm_python.py bench <stream> <count> <size>     appends <count> messages; prints messages/s
  sm_python.py sitewise <alias> <unknown alias>   a SiteWise export of 4 entries (one to an unknown property)
  sm_python.py s3 <bucket> <file>...              S3 export tasks for the files (and one missing file), their status messages
  sm_python.py s3-keys <bucket> <file> <key>...   an S3 export task of <file> per key (placeholders), their status messages
"""

import json
import sys
import time

from stream_manager import (
    ExportDefinition,
    IoTAnalyticsConfig,
    KinesisConfig,
    MessageStreamDefinition,
    Persistence,
    ReadMessagesOptions,
    StrategyOnFull,
    StreamManagerClient,
)
from stream_manager import (
    AssetPropertyValue,
    IoTSiteWiseConfig,
    PutAssetPropertyValueEntry,
    Quality,
    TimeInNanos,
    Variant,
    S3ExportTaskDefinition,
    S3ExportTaskExecutorConfig,
    Status,
    StatusConfig,
    StatusLevel,
    StatusMessage,
    Util,
)
from stream_manager.exceptions import NotEnoughMessagesException, StreamManagerException


def refused(action):
    try:
        action()
    except StreamManagerException as e:
        return {"type": type(e).__name__, "message": str(e)}
    return {"type": None, "message": None}


def flows(name, kinesis_stream):
    out = {}
    client = StreamManagerClient()
    try:
        client.create_message_stream(
            MessageStreamDefinition(
                name=name,
                strategy_on_full=StrategyOnFull.OverwriteOldestData,
                persistence=Persistence.File,
                flush_on_write=True,
                export_definition=ExportDefinition(
                    kinesis=[
                        KinesisConfig(
                            identifier="KinesisExport" + name,
                            kinesis_stream_name=kinesis_stream,
                            batch_size=10,
                        )
                    ]
                ),
            )
        )
        out["sequences"] = [client.append_message(name, ("python message %d" % i).encode()) for i in range(20)]
        messages = client.read_messages(
            name,
            ReadMessagesOptions(desired_start_sequence_number=5, min_message_count=3, max_message_count=4),
        )
        out["read"] = [[m.sequence_number, m.payload.decode()] for m in messages]
        info = client.describe_message_stream(name)
        out["describe"] = {
            "name": info.definition.name,
            "strategyOnFull": info.definition.strategy_on_full.name,
            "oldest": info.storage_status.oldest_sequence_number,
            "newest": info.storage_status.newest_sequence_number,
            "kinesis": [k.kinesis_stream_name for k in info.definition.export_definition.kinesis],
        }
        client.update_message_stream(
            MessageStreamDefinition(
                name=name,
                strategy_on_full=StrategyOnFull.RejectNewData,
                max_size=64 * 1024 * 1024,
                time_to_live_millis=3_600_000,
                export_definition=info.definition.export_definition,
            )
        )
        updated = client.describe_message_stream(name)
        out["updated"] = {
            "strategyOnFull": updated.definition.strategy_on_full.name,
            "maxSize": updated.definition.max_size,
            "ttl": updated.definition.time_to_live_millis,
        }
        out["list"] = client.list_streams()
        # Waits for the export: describe until the status says everything went out.
        deadline = time.time() + 30
        exported = None
        while time.time() < deadline:
            statuses = client.describe_message_stream(name).export_statuses or []
            exported = [[s.export_config_identifier, s.last_exported_sequence_number] for s in statuses]
            if exported and exported[0][1] >= 19:
                break
            time.sleep(0.2)
        out["exportStatuses"] = exported
        status = statuses[0] if statuses else None
        out["exportStatus"] = status and {
            "lastExportTime": status.last_export_time,
            "exportedBytesFromStream": status.exported_bytes_from_stream,
            "exportedMessagesCount": status.exported_messages_count,
            "errorMessage": status.error_message,
        }
        # The exporter's dead-letter stream is the agent's, not listed; it stays readable by name.
        out["deadLetterNewest"] = client.describe_message_stream(
            name + ".dead-letter"
        ).storage_status.newest_sequence_number
        out["bad"] = {
            "create": refused(
                lambda: client.create_message_stream(
                    MessageStreamDefinition(name=name, strategy_on_full=StrategyOnFull.RejectNewData)
                )
            ),
            "createIotAnalytics": refused(
                lambda: client.create_message_stream(
                    MessageStreamDefinition(
                        name=name + "-analytics",
                        strategy_on_full=StrategyOnFull.RejectNewData,
                        export_definition=ExportDefinition(
                            iot_analytics=[IoTAnalyticsConfig(identifier="a", iot_channel="c")]
                        ),
                    )
                )
            ),
            "update": refused(
                lambda: client.update_message_stream(
                    MessageStreamDefinition(
                        name=name, strategy_on_full=StrategyOnFull.RejectNewData, persistence=Persistence.Memory
                    )
                )
            ),
            "updateMissing": refused(
                lambda: client.update_message_stream(
                    MessageStreamDefinition(name="no-such-stream", strategy_on_full=StrategyOnFull.RejectNewData)
                )
            ),
            "delete": refused(lambda: client.delete_message_stream("no-such-stream")),
            "describe": refused(lambda: client.describe_message_stream("no-such-stream")),
            "append": refused(lambda: client.append_message("no-such-stream", b"x")),
            "appendContract": refused(lambda: client.append_message("telemetry", b"not json")),
            "read": refused(
                lambda: client.read_messages(
                    name, ReadMessagesOptions(desired_start_sequence_number=1000, read_timeout_millis=200)
                )
            ),
            "readMissing": refused(lambda: client.read_messages("no-such-stream")),
        }
        client.delete_message_stream(name)
        out["listAfterDelete"] = client.list_streams()
    finally:
        client.close()
    print(json.dumps(out))


def append_forever(name, kinesis_stream=None):
    # A request the dead agent never answers fails after 5 s (not the SDK's 60): the driver exits.
    client = StreamManagerClient(request_timeout=5)
    if name not in client.list_streams():
        export = None
        if kinesis_stream is not None:
            export = ExportDefinition(
                kinesis=[KinesisConfig(identifier="KinesisExport" + name, kinesis_stream_name=kinesis_stream)]
            )
        client.create_message_stream(
            MessageStreamDefinition(
                name=name, strategy_on_full=StrategyOnFull.RejectNewData, export_definition=export
            )
        )
    i = 0
    while True:
        sequence = client.append_message(name, ("crash %d" % i).encode())
        # One line per acknowledged message: the test holds the agent to every one of them.
        sys.stdout.write("%d %d\n" % (i, sequence))
        sys.stdout.flush()
        i += 1


def wait_exported(client, name, last, seconds=60):
    """Describes `name` until its first export status has exported up to `last`; returns the statuses."""
    deadline = time.time() + seconds
    statuses = []
    while time.time() < deadline:
        statuses = client.describe_message_stream(name).export_statuses or []
        if statuses and statuses[0].last_exported_sequence_number >= last:
            break
        time.sleep(0.1)
    return [[s.export_config_identifier, s.last_exported_sequence_number] for s in statuses]


def kinesis_stream_definition(name, kinesis_stream, **config):
    return MessageStreamDefinition(
        name=name,
        strategy_on_full=StrategyOnFull.RejectNewData,
        export_definition=ExportDefinition(
            kinesis=[KinesisConfig(identifier=name + "-export", kinesis_stream_name=kinesis_stream, **config)]
        ),
    )


def export_options(kinesis_stream):
    """start_sequence_number=5 on one stream, disabled=True on another; 10 and 5 messages appended."""
    client = StreamManagerClient()
    try:
        client.create_message_stream(kinesis_stream_definition("start-stream", kinesis_stream, start_sequence_number=5))
        client.create_message_stream(kinesis_stream_definition("off-stream", kinesis_stream, disabled=True))
        for i in range(10):
            client.append_message("start-stream", ("start %d" % i).encode())
        for i in range(5):
            client.append_message("off-stream", ("off %d" % i).encode())
        started = wait_exported(client, "start-stream", 9)
        off = client.describe_message_stream("off-stream")
        print(
            json.dumps(
                {
                    "start": started,
                    "off": [[s.export_config_identifier, s.last_exported_sequence_number] for s in off.export_statuses or []],
                    "offDisabled": [k.disabled for k in off.definition.export_definition.kinesis],
                }
            )
        )
    finally:
        client.close()


def enable(name, kinesis_stream):
    """UpdateMessageStream enables the stream's disabled export; waits until its messages went out."""
    client = StreamManagerClient()
    try:
        client.update_message_stream(kinesis_stream_definition(name, kinesis_stream, disabled=False))
        newest = client.describe_message_stream(name).storage_status.newest_sequence_number
        print(json.dumps({"statuses": wait_exported(client, name, newest)}))
    finally:
        client.close()


def partition_keys(kinesis_stream):
    """20 plain messages, then 30 JSON messages naming partition_key dev-0..dev-2 in turns, exported."""
    client = StreamManagerClient()
    try:
        client.create_message_stream(kinesis_stream_definition("keyed-stream", kinesis_stream))
        for i in range(20):
            client.append_message("keyed-stream", ("nokey %d" % i).encode())
        for i in range(30):
            message = {"partition_key": "dev-%d" % (i % 3), "n": i}
            client.append_message("keyed-stream", json.dumps(message).encode())
        print(json.dumps({"statuses": wait_exported(client, "keyed-stream", 49)}))
    finally:
        client.close()


def errors():
    """What the SDK raises: messages too large, a read whose minimum cannot fit, a full RejectNewData stream."""
    out = {}
    client = StreamManagerClient()
    try:
        client.create_message_stream(
            MessageStreamDefinition(name="err-big", strategy_on_full=StrategyOnFull.OverwriteOldestData)
        )
        out["appendRecordTooLarge"] = refused(lambda: client.append_message("err-big", b"x" * (1024 * 1024 + 1)))
        out["appendFrameTooLarge"] = refused(lambda: client.append_message("err-big", b"x" * (2 * 1024 * 1024)))
        for i in range(5):
            client.append_message("err-big", (b"%d" % i) * 900_000)
        out["readTooLarge"] = refused(
            lambda: client.read_messages(
                "err-big",
                ReadMessagesOptions(desired_start_sequence_number=0, min_message_count=5, max_message_count=5),
            )
        )
        out["readFits"] = [
            [m.sequence_number, len(m.payload)]
            for m in client.read_messages(
                "err-big",
                ReadMessagesOptions(desired_start_sequence_number=0, min_message_count=1, max_message_count=5),
            )
        ]
        client.create_message_stream(
            MessageStreamDefinition(
                name="err-full", max_size=1024, stream_segment_size=1024, strategy_on_full=StrategyOnFull.RejectNewData
            )
        )
        appended = 0
        full = None
        while full is None and appended < 100:
            try:
                client.append_message("err-full", b"y" * 100)
                appended += 1
            except StreamManagerException as e:
                full = {"type": type(e).__name__, "message": str(e)}
        out["full"] = full
        out["appendedBeforeFull"] = appended
    finally:
        client.close()
    print(json.dumps(out))


def connect():
    """Connects with the token of the environment; what the SDK raises when refused."""
    try:
        client = StreamManagerClient()
    except Exception as e:
        print(json.dumps({"type": type(e).__name__, "message": str(e)}))
        return
    try:
        print(json.dumps({"type": None, "streams": client.list_streams()}))
    finally:
        client.close()


def read_all(name):
    client = StreamManagerClient()
    try:
        info = client.describe_message_stream(name)
        newest = info.storage_status.newest_sequence_number
        out = []
        start = 0
        while start <= newest:
            batch = client.read_messages(
                name,
                ReadMessagesOptions(desired_start_sequence_number=start, min_message_count=1, max_message_count=1000),
            )
            out.extend(m.payload.decode() for m in batch)
            start = batch[-1].sequence_number + 1
        print(json.dumps({"streams": client.list_streams(), "payloads": out}))
    finally:
        client.close()


def run_s3_tasks(status_stream, task_stream, tasks):
    """Creates the streams, appends the tasks, waits for each to finish; prints what happened."""
    client = StreamManagerClient()
    try:
        client.create_message_stream(
            MessageStreamDefinition(name=status_stream, strategy_on_full=StrategyOnFull.OverwriteOldestData)
        )
        client.create_message_stream(
            MessageStreamDefinition(
                name=task_stream,
                strategy_on_full=StrategyOnFull.OverwriteOldestData,
                export_definition=ExportDefinition(
                    s3_task_executor=[
                        S3ExportTaskExecutorConfig(
                            identifier="S3TaskExecutor",
                            status_config=StatusConfig(
                                status_level=StatusLevel.INFO, status_stream_name=status_stream
                            ),
                        )
                    ]
                ),
            )
        )
        for task in tasks:
            client.append_message(task_stream, Util.validate_and_serialize_to_json_bytes(task))
        done = {}
        events = []
        start = 0
        deadline = time.time() + 90
        while len(done) < len(tasks) and time.time() < deadline:
            try:
                batch = client.read_messages(
                    status_stream,
                    ReadMessagesOptions(
                        desired_start_sequence_number=start, min_message_count=1, max_message_count=10, read_timeout_millis=1000
                    ),
                )
            except NotEnoughMessagesException:
                continue
            for m in batch:
                status = Util.deserialize_json_bytes_to_obj(m.payload, StatusMessage)
                sequence = status.status_context.sequence_number
                events.append([sequence, status.status.name])
                if status.status in (Status.Success, Status.Failure):
                    done[sequence] = [status.status.name, status.message]
                start = m.sequence_number + 1
        # A task's final status is appended before its checkpoint is committed (a crash in between
        # reports it again rather than never): the export status catches up a moment later.
        info = client.describe_message_stream(task_stream)
        while time.time() < deadline and any(
            (s.last_exported_sequence_number or -1) < len(tasks) - 1 for s in info.export_statuses or []
        ):
            time.sleep(0.05)
            info = client.describe_message_stream(task_stream)
        print(
            json.dumps(
                {
                    "done": {str(k): v for k, v in done.items()},
                    "events": events,
                    "exportStatuses": [
                        [
                            s.export_config_identifier,
                            s.last_exported_sequence_number,
                            s.exported_bytes_from_stream,
                            s.exported_messages_count,
                            s.last_export_time,
                        ]
                        for s in info.export_statuses or []
                    ],
                }
            )
        )
    finally:
        client.close()


def s3(bucket, files):
    paths = files + [files[0] + ".missing"]
    tasks = [
        S3ExportTaskDefinition(input_url="file://" + path, bucket=bucket, key="uploads/%d" % i)
        for i, path in enumerate(paths)
    ]
    run_s3_tasks("StatusStream", "S3TaskStream", tasks)


def s3_keys(bucket, file, *keys):
    """One task per key, all uploading <file>: key placeholders as the SDK documents them."""
    tasks = [S3ExportTaskDefinition(input_url="file://" + file, bucket=bucket, key=key) for key in keys]
    run_s3_tasks("KeyStatusStream", "KeyTaskStream", tasks)


def sitewise(alias, unknown):
    client = StreamManagerClient()
    try:
        client.create_message_stream(
            MessageStreamDefinition(
                name="SiteWiseStream",
                strategy_on_full=StrategyOnFull.OverwriteOldestData,
                export_definition=ExportDefinition(
                    iot_sitewise=[IoTSiteWiseConfig(identifier="SiteWiseExport", batch_size=2)]
                ),
            )
        )
        now = int(time.time())
        sizes = []
        for i, target in enumerate([alias, alias, unknown, alias]):
            entry = PutAssetPropertyValueEntry(
                entry_id="entry-%d" % i,
                property_alias=target,
                property_values=[
                    AssetPropertyValue(
                        value=Variant(double_value=20.5 + i),
                        quality=Quality.GOOD,
                        timestamp=TimeInNanos(time_in_seconds=now, offset_in_nanos=i),
                    )
                ],
            )
            message = Util.validate_and_serialize_to_json_bytes(entry)
            sizes.append(len(message))
            client.append_message("SiteWiseStream", message)
        deadline = time.time() + 60
        statuses = []
        while time.time() < deadline:
            statuses = [
                [
                    s.export_config_identifier,
                    s.last_exported_sequence_number,
                    s.error_message,
                    s.exported_messages_count,
                    s.exported_bytes_from_stream,
                    s.last_export_time,
                ]
                for s in client.describe_message_stream("SiteWiseStream").export_statuses or []
            ]
            if statuses and statuses[0][1] >= 3:
                break
            time.sleep(0.2)
        print(json.dumps({"exportStatuses": statuses, "sizes": sizes}))
    finally:
        client.close()


def bandwidth(kinesis_stream, count, size):
    """Two streams exported to Kinesis, priority 10 (low) and 1 (most urgent), appended in turns;
    when each export is done, and how far the low one was when the urgent one was done."""
    client = StreamManagerClient()
    try:
        for name, priority in (("bw-low", 10), ("bw-high", 1)):
            client.create_message_stream(
                MessageStreamDefinition(
                    name=name,
                    strategy_on_full=StrategyOnFull.RejectNewData,
                    export_definition=ExportDefinition(
                        kinesis=[
                            KinesisConfig(
                                identifier="export-" + name, kinesis_stream_name=kinesis_stream, priority=priority
                            )
                        ]
                    ),
                )
            )
        started = time.time()
        for i in range(count):
            for name in ("bw-low", "bw-high"):
                client.append_message(name, (name + " %06d " % i).encode().ljust(size, b"x"))
        done = {}
        low_at_high_done = None
        deadline = time.time() + 120
        while len(done) < 2 and time.time() < deadline:
            for name in ("bw-low", "bw-high"):
                status = client.describe_message_stream(name).export_statuses[0]
                if name not in done and status.last_exported_sequence_number >= count - 1:
                    done[name] = time.time() - started
                    if name == "bw-high":
                        low = client.describe_message_stream("bw-low").export_statuses[0]
                        low_at_high_done = low.last_exported_sequence_number
            time.sleep(0.05)
        print(json.dumps({"done": done, "lowAtHighDone": low_at_high_done}))
    finally:
        client.close()


def whoami():
    """The port the SDK took from its environment, and the streams it sees there."""
    client = StreamManagerClient()
    try:
        print(json.dumps({"port": client.port, "streams": client.list_streams()}))
    finally:
        client.close()


def bench(name, count, size):
    client = StreamManagerClient()
    try:
        if name not in client.list_streams():
            client.create_message_stream(
                MessageStreamDefinition(name=name, strategy_on_full=StrategyOnFull.OverwriteOldestData)
            )
        payload = b"x" * size
        began = time.perf_counter()
        for _ in range(count):
            client.append_message(name, payload)
        seconds = time.perf_counter() - began
        print(json.dumps({"messages": count, "seconds": seconds, "perSecond": count / seconds}))
    finally:
        client.close()


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "flows":
        flows(sys.argv[2], sys.argv[3])
    elif command == "append-forever":
        append_forever(sys.argv[2], *sys.argv[3:4])
    elif command == "export-options":
        export_options(sys.argv[2])
    elif command == "enable":
        enable(sys.argv[2], sys.argv[3])
    elif command == "partition-keys":
        partition_keys(sys.argv[2])
    elif command == "errors":
        errors()
    elif command == "connect":
        connect()
    elif command == "read-all":
        read_all(sys.argv[2])
    elif command == "sitewise":
        sitewise(sys.argv[2], sys.argv[3])
    elif command == "s3":
        s3(sys.argv[2], sys.argv[3:])
    elif command == "s3-keys":
        s3_keys(sys.argv[2], sys.argv[3], *sys.argv[4:])
    elif command == "bandwidth":
        bandwidth(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif command == "whoami":
        whoami()
    elif command == "bench":
        bench(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        raise SystemExit("unknown command " + command)
