import {
  Bool,
  type Data,
  type DataType,
  Field,
  Float64,
  Int32,
  Int64,
  List,
  Map_,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  tableToIPC,
  Utf8,
} from 'apache-arrow';
import {
  Compression,
  EnabledStatistics,
  Table as ParquetTable,
  WriterPropertiesBuilder,
  WriterVersion,
  writeParquet,
} from 'parquet-wasm';
import { type GlueColumn, glueColumns } from '../contract/glue.ts';
import { LakeEncodeError, LakeSchemaError } from './errors.ts';
import { type GlueType, parseGlueType } from './glue-types.ts';

/**
 * Parquet encoding of lake rows with the physical layout Firehose's record format conversion gives
 * the same Glue schema. Firehose writes through Hive's ParquetHiveSerDe, whose HiveSchemaConverter maps
 * (apache/hive ql/io/parquet/convert/HiveSchemaConverter.java):
 *   string → optional binary (UTF8)      int → optional int32        bigint → optional int64
 *   double → optional double             boolean → optional boolean
 *   struct → optional group              map<k,v> → optional group (MAP) { repeated group { required key; optional value } }
 *   array<t> → optional group (LIST)
 * Every column and struct field is OPTIONAL (Hive columns are nullable), so a telemetry row has null
 * transaction fields. Rows go through Arrow arrays built straight from typed buffers and the Rust
 * parquet writer (parquet-wasm): no per-value objects, which is what makes ≥ 400k rows/s reachable.
 */

/** The codecs Firehose's ParquetSerDe offers (https://docs.aws.amazon.com/firehose/latest/APIReference/API_ParquetSerDe.html). */
export type ParquetCompression = 'SNAPPY' | 'GZIP' | 'UNCOMPRESSED';

export interface ParquetEncodeOptions {
  /** Firehose's ParquetSerDe default is SNAPPY. */
  compression?: ParquetCompression;
  /**
   * Key/value metadata stored in the footer (e.g. the source shard and sequence range). With more
   * than one key the footer order varies between calls (the writer keeps them in a hash map).
   */
  metadata?: Readonly<Record<string, string>>;
  /** Rows per row group; Firehose writes one object per buffer flush, so one group is typical. */
  rowGroupRows?: number;
}

/** The lake table's columns: the contract's Glue columns, types parsed. */
export interface LakeColumn {
  readonly name: string;
  readonly glueType: string;
  readonly type: GlueType;
}

export function lakeColumns(columns: readonly GlueColumn[] = glueColumns()): LakeColumn[] {
  return columns.map((column) => ({
    name: column.name,
    glueType: column.type,
    type: parseGlueType(column.type),
  }));
}

const COMPRESSION: Readonly<Record<ParquetCompression, Compression>> = {
  SNAPPY: Compression.SNAPPY,
  GZIP: Compression.GZIP,
  UNCOMPRESSED: Compression.UNCOMPRESSED,
};

/** Written as the footer's created_by: the files are reproducible byte for byte for the same rows. */
const CREATED_BY = 'tributary lake (parquet-wasm)';

/**
 * Encodes rows (objects keyed by column name, e.g. validated contract records) as one Parquet file.
 * Values must already fit their columns; a mismatch is a LakeEncodeError, never a silent null.
 *
 * An encoder keeps its column buffers between calls, sized by the largest batch so far up to
 * RETAINED_ROWS rows: allocating tens of MiB of buffers per call costs more than filling them, mostly
 * in the garbage collections the external memory triggers. Not reentrant, which a synchronous
 * `encode` never is.
 */
export class ParquetEncoder {
  readonly columns: readonly LakeColumn[];
  readonly #schema: Schema;
  readonly #builders: readonly Builder[];
  readonly #fill: Fill;

  constructor(columns: readonly LakeColumn[] = lakeColumns()) {
    this.columns = columns;
    this.#schema = new Schema(columns.map((c) => new Field(c.name, arrowType(c.type, c.name), true)));
    this.#builders = this.#newBuilders();
    this.#fill = compileFill(columns);
  }

  encode(rows: readonly Readonly<Record<string, unknown>>[], options: ParquetEncodeOptions = {}): Uint8Array {
    // A larger batch gets buffers of its own, dropped with it.
    const builders = rows.length <= RETAINED_ROWS ? this.#builders : this.#newBuilders();
    for (const builder of builders) builder.reset(rows.length);
    this.#fill(rows, builders);
    const children = builders.map((builder) => builder.finish());
    const batch = new RecordBatch(
      this.#schema,
      makeData({ type: new Struct(this.#schema.fields), length: rows.length, nullCount: 0, children }),
    );
    const ipc = tableToIPC(new Table(this.#schema, [batch]), 'stream');
    let props = new WriterPropertiesBuilder()
      .setCompression(COMPRESSION[options.compression ?? 'SNAPPY'])
      .setWriterVersion(WriterVersion.V1)
      .setStatisticsEnabled(EnabledStatistics.Chunk)
      .setMaxRowGroupSize(options.rowGroupRows ?? 1_048_576)
      .setCreatedBy(CREATED_BY)
      // Record ids are unique: a dictionary for them is built only to be thrown away. Event times
      // (epoch ms) are nearly so, and a batch's worth stays under the dictionary page limit, so the
      // writer never falls back to plain: the dictionary held every value again plus an index per
      // row (the column was half again as large on the bench's rows, and slower to write).
      .setColumnDictionaryEnabled('id', false)
      .setColumnDictionaryEnabled('event_time', false);
    if (options.metadata !== undefined) {
      props = props.setKeyValueMetadata(new Map(Object.entries(options.metadata)));
    }
    return writeParquet(ParquetTable.fromIPCStream(ipc), props.build());
  }

  #newBuilders(): Builder[] {
    return this.columns.map((column) => builderFor(column.type, column.name));
  }
}

/** Batches up to this many rows reuse the encoder's buffers (47 MiB kept at this size for the bench's rows). */
const RETAINED_ROWS = 131_072;

/** Appends every row to the column builders (one per column, in column order). */
type Fill = (rows: readonly Readonly<Record<string, unknown>>[], builders: readonly Builder[]) => void;

/**
 * The row loop, generated for the columns: `row["id"]`, `v6["metric"]`… as literal property reads
 * and one call site per builder, so V8 caches each property lookup and can inline the appends. The
 * generic loop (`builders[i].append(row[name])`, kept as the fallback where code generation is
 * disallowed) sends every value through one megamorphic call and one megamorphic keyed load: it
 * filled the bench's 100k rows in ~200 ms, the generated one in ~75 ms. Struct nesting is unrolled;
 * map values and list items (variable length) go through their builders' own loops. Names enter the
 * source only as JSON string literals.
 */
function compileFill(columns: readonly LakeColumn[]): Fill {
  const prologue: string[] = [];
  const body: string[] = [];
  let count = 0;
  const emit = (builder: string, type: GlueType, value: string): void => {
    if (type.kind !== 'struct') {
      body.push(`${builder}.append(${value});`);
      return;
    }
    const v = `v${count}`;
    const present = `p${count++}`;
    body.push(`const ${v} = ${value};`, `const ${present} = ${builder}.open(${v});`);
    type.fields.forEach((field, i) => {
      const child = `b${count++}`;
      prologue.push(`const ${child} = ${builder}.children[${i}];`);
      emit(child, field.type, `${present} ? ${v}[${JSON.stringify(field.name)}] : undefined`);
    });
  };
  columns.forEach((column, i) => {
    const builder = `b${count++}`;
    prologue.push(`const ${builder} = builders[${i}];`);
    emit(builder, column.type, `row[${JSON.stringify(column.name)}]`);
  });
  const source = [
    ...prologue,
    'for (let r = 0; r < rows.length; r++) {',
    '  const row = rows[r];',
    ...body.map((line) => `  ${line}`),
    '}',
  ].join('\n');
  try {
    return new Function('rows', 'builders', source) as Fill;
  } catch {
    // --disallow-code-generation-from-strings (or a CSP): same result, slower.
    const names = columns.map((column) => column.name);
    return (rows, builders) => {
      for (const row of rows) {
        for (let i = 0; i < builders.length; i++) (builders[i] as Builder).append(row[names[i] as string]);
      }
    };
  }
}

function arrowType(type: GlueType, path: string): DataType {
  switch (type.kind) {
    case 'string':
      return new Utf8();
    case 'int':
      return new Int32();
    case 'bigint':
      return new Int64();
    case 'double':
      return new Float64();
    case 'boolean':
      return new Bool();
    case 'struct':
      return new Struct(
        type.fields.map((f) => new Field(f.name, arrowType(f.type, `${path}.${f.name}`), true)),
      );
    case 'map':
      if (type.key.kind !== 'string')
        throw new LakeSchemaError(`${path}: only string map keys are supported`);
      return new Map_(
        new Field(
          'key_value',
          new Struct<{ key: Utf8; value: DataType }>([
            new Field('key', new Utf8(), false),
            new Field('value', arrowType(type.value, `${path}.value`), true),
          ]),
          false,
        ),
        false,
      );
    case 'array':
      return new List(new Field('element', arrowType(type.item, `${path}[]`), true));
  }
}

interface Builder {
  /** Empties the builder for `rows` more values, keeping (and if needed growing) its buffers. */
  reset(rows: number): void;
  append(value: unknown): void;
  /** The values so far as Arrow data; it views the builder's buffers, valid until the next reset. */
  finish(): Data;
}

/** A growable validity bitmap (1 = present), as Arrow lays it out. */
class Validity {
  bits = new Uint8Array(0);
  length = 0;
  nulls = 0;

  reset(capacity: number): void {
    const bytes = (capacity >> 3) + 1;
    // All of a reused bitmap is cleared: a child (map keys, list items) may push past `capacity`.
    if (this.bits.length < bytes) this.bits = new Uint8Array(bytes);
    else this.bits.fill(0);
    this.length = 0;
    this.nulls = 0;
  }

  push(present: boolean): void {
    const byte = this.length >> 3;
    if (byte >= this.bits.length) this.bits = grow(this.bits, byte + 1);
    if (present) this.bits[byte] = (this.bits[byte] as number) | (1 << (this.length & 7));
    else this.nulls += 1;
    this.length += 1;
  }

  /** The bitmap truncated to the values pushed (a reused buffer is longer). */
  view(): Uint8Array {
    return this.bits.subarray(0, (this.length + 7) >> 3);
  }

  props(): { nullCount: number; nullBitmap?: Uint8Array } {
    return this.nulls === 0 ? { nullCount: 0 } : { nullCount: this.nulls, nullBitmap: this.view() };
  }
}

function grow<T extends Uint8Array | Int32Array | Float64Array>(array: T, minLength: number): T {
  const next = new (array.constructor as new (length: number) => T)(Math.max(minLength, array.length * 2));
  next.set(array);
  return next;
}

function builderFor(type: GlueType, path: string): Builder {
  switch (type.kind) {
    case 'string':
      return new StringBuilder(path);
    case 'int':
      return new IntBuilder(path, 32);
    case 'bigint':
      return new IntBuilder(path, 64);
    case 'double':
      return new DoubleBuilder(path);
    case 'boolean':
      return new BoolBuilder(path);
    case 'struct':
      return new StructBuilder(type, path);
    case 'map':
      return new MapBuilder(type, path);
    case 'array':
      return new ListBuilder(type, path);
  }
}

/** Initial UTF-8 bytes reserved per string value; the buffer doubles when a batch needs more. */
const BYTES_PER_STRING = 16;

class StringBuilder implements Builder {
  readonly #validity = new Validity();
  #offsets = new Int32Array(1);
  #bytes = Buffer.allocUnsafeSlow(1024);
  #end = 0;

  constructor(private readonly path: string) {}

  reset(rows: number): void {
    this.#validity.reset(rows);
    if (this.#offsets.length < rows + 1) this.#offsets = new Int32Array(rows + 1);
    if (this.#bytes.length < rows * BYTES_PER_STRING)
      this.#bytes = Buffer.allocUnsafeSlow(rows * BYTES_PER_STRING);
    this.#end = 0;
  }

  append(value: unknown): void {
    const index = this.#validity.length;
    if (index + 1 >= this.#offsets.length) this.#offsets = grow(this.#offsets, index + 2);
    if (value === null || value === undefined) {
      this.#validity.push(false);
    } else {
      if (typeof value !== 'string')
        throw new LakeEncodeError(this.path, `expected a string, got ${typeof value}`);
      // UTF-8 never needs more than 3 bytes per UTF-16 code unit.
      if (this.#end + value.length * 3 > this.#bytes.length) {
        const next = Buffer.allocUnsafeSlow(Math.max(this.#bytes.length * 2, this.#end + value.length * 3));
        this.#bytes.copy(next, 0, 0, this.#end);
        this.#bytes = next;
      }
      this.#end = writeUtf8(this.#bytes, value, this.#end);
      this.#validity.push(true);
    }
    this.#offsets[index + 1] = this.#end;
  }

  finish(): Data {
    const length = this.#validity.length;
    return makeData({
      type: new Utf8(),
      length,
      ...this.#validity.props(),
      valueOffsets: this.#offsets.subarray(0, length + 1),
      data: new Uint8Array(this.#bytes.buffer, this.#bytes.byteOffset, this.#end),
    });
  }
}

/** ASCII is copied by hand (most ids, keys and codes); Buffer#write's per-call overhead dominates for short strings. */
function writeUtf8(target: Buffer, value: string, offset: number): number {
  let pos = offset;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code >= 0x80) return offset + target.write(value, offset, 'utf8');
    target[pos++] = code;
  }
  return pos;
}

const TWO_POW_32 = 2 ** 32;

class IntBuilder implements Builder {
  readonly #validity = new Validity();
  #words = new Int32Array(2);

  constructor(
    private readonly path: string,
    private readonly bits: 32 | 64,
  ) {}

  reset(rows: number): void {
    this.#validity.reset(rows);
    const words = rows * (this.bits / 32);
    if (this.#words.length < words) this.#words = new Int32Array(words);
  }

  append(value: unknown): void {
    const index = this.#validity.length;
    const width = this.bits / 32;
    if ((index + 1) * width > this.#words.length) this.#words = grow(this.#words, (index + 1) * width);
    if (value === null || value === undefined) {
      // A reused buffer holds old values: null slots are zeroed so the output stays deterministic.
      this.#words[index * width] = 0;
      if (width === 2) this.#words[index * 2 + 1] = 0;
      this.#validity.push(false);
      return;
    }
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      throw new LakeEncodeError(this.path, `expected a safe integer, got ${String(value)}`);
    }
    if (this.bits === 32) {
      if (value < -(2 ** 31) || value >= 2 ** 31)
        throw new LakeEncodeError(this.path, `${value} overflows int`);
      this.#words[index] = value;
    } else {
      // Little-endian two's complement without a BigInt per value.
      const high = Math.floor(value / TWO_POW_32);
      this.#words[index * 2] = value - high * TWO_POW_32;
      this.#words[index * 2 + 1] = high;
    }
    this.#validity.push(true);
  }

  finish(): Data {
    const length = this.#validity.length;
    const common = { length, ...this.#validity.props() };
    if (this.bits === 32)
      return makeData({ type: new Int32(), ...common, data: this.#words.subarray(0, length) });
    return makeData({
      type: new Int64(),
      ...common,
      data: new BigInt64Array(this.#words.buffer, 0, length),
    });
  }
}

class DoubleBuilder implements Builder {
  readonly #validity = new Validity();
  #values = new Float64Array(1);

  constructor(private readonly path: string) {}

  reset(rows: number): void {
    this.#validity.reset(rows);
    if (this.#values.length < rows) this.#values = new Float64Array(rows);
  }

  append(value: unknown): void {
    const index = this.#validity.length;
    if (index >= this.#values.length) this.#values = grow(this.#values, index + 1);
    if (value === null || value === undefined) {
      this.#values[index] = 0;
      this.#validity.push(false);
      return;
    }
    if (typeof value !== 'number')
      throw new LakeEncodeError(this.path, `expected a number, got ${typeof value}`);
    this.#values[index] = value;
    this.#validity.push(true);
  }

  finish(): Data {
    const length = this.#validity.length;
    return makeData({
      type: new Float64(),
      length,
      ...this.#validity.props(),
      data: this.#values.subarray(0, length),
    });
  }
}

class BoolBuilder implements Builder {
  readonly #validity = new Validity();
  readonly #values = new Validity();

  constructor(private readonly path: string) {}

  reset(rows: number): void {
    this.#validity.reset(rows);
    this.#values.reset(rows);
  }

  append(value: unknown): void {
    if (value === null || value === undefined) {
      this.#validity.push(false);
      this.#values.push(false);
      return;
    }
    if (typeof value !== 'boolean')
      throw new LakeEncodeError(this.path, `expected a boolean, got ${typeof value}`);
    this.#validity.push(true);
    this.#values.push(value);
  }

  finish(): Data {
    return makeData({
      type: new Bool(),
      length: this.#validity.length,
      ...this.#validity.props(),
      data: this.#values.view(),
    });
  }
}

function isObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class StructBuilder implements Builder {
  readonly #validity = new Validity();
  readonly names: readonly string[];
  readonly children: readonly Builder[];

  constructor(
    private readonly type: Extract<GlueType, { kind: 'struct' }>,
    private readonly path: string,
  ) {
    this.names = type.fields.map((f) => f.name);
    this.children = type.fields.map((f) => builderFor(f.type, `${path}.${f.name}`));
  }

  reset(rows: number): void {
    this.#validity.reset(rows);
    for (const child of this.children) child.reset(rows);
  }

  /**
   * Records the struct's own slot and says whether it is present; the caller then appends a value
   * to every child (undefined under a null struct: Arrow needs a slot in every child).
   */
  open(value: unknown): value is Readonly<Record<string, unknown>> {
    const present = value !== null && value !== undefined;
    if (present && !isObject(value)) throw new LakeEncodeError(this.path, 'expected an object');
    this.#validity.push(present);
    return present;
  }

  append(value: unknown): void {
    const present = this.open(value);
    for (let i = 0; i < this.children.length; i++) {
      (this.children[i] as Builder).append(present ? value[this.names[i] as string] : undefined);
    }
  }

  finish(): Data {
    return makeData({
      type: arrowType(this.type, this.path) as Struct,
      length: this.#validity.length,
      ...this.#validity.props(),
      children: this.children.map((child) => child.finish()),
    });
  }
}

class MapBuilder implements Builder {
  readonly #validity = new Validity();
  #offsets = new Int32Array(1);
  #entries = 0;
  readonly #keys: StringBuilder;
  readonly #values: Builder;

  constructor(
    private readonly type: Extract<GlueType, { kind: 'map' }>,
    private readonly path: string,
  ) {
    this.#keys = new StringBuilder(`${path}.key`);
    this.#values = builderFor(type.value, `${path}.value`);
  }

  reset(rows: number): void {
    this.#validity.reset(rows);
    if (this.#offsets.length < rows + 1) this.#offsets = new Int32Array(rows + 1);
    this.#entries = 0;
    // One entry per row to start with; the child buffers grow past that.
    this.#keys.reset(rows);
    this.#values.reset(rows);
  }

  append(value: unknown): void {
    const index = this.#validity.length;
    if (index + 1 >= this.#offsets.length) this.#offsets = grow(this.#offsets, index + 2);
    const present = value !== null && value !== undefined;
    if (present) {
      if (!isObject(value)) throw new LakeEncodeError(this.path, 'expected an object for a map');
      for (const key in value) {
        this.#keys.append(key);
        this.#values.append(value[key]);
        this.#entries += 1;
      }
    }
    this.#validity.push(present);
    this.#offsets[index + 1] = this.#entries;
  }

  finish(): Data {
    const length = this.#validity.length;
    const mapType = arrowType(this.type, this.path) as Map_;
    const entryType = mapType.children[0]?.type as Struct;
    return makeData({
      type: mapType,
      length,
      ...this.#validity.props(),
      valueOffsets: this.#offsets.subarray(0, length + 1),
      child: makeData({
        type: entryType,
        length: this.#entries,
        nullCount: 0,
        children: [this.#keys.finish(), this.#values.finish()],
      }),
    });
  }
}

class ListBuilder implements Builder {
  readonly #validity = new Validity();
  #offsets = new Int32Array(1);
  #items = 0;
  readonly #child: Builder;

  constructor(
    private readonly type: Extract<GlueType, { kind: 'array' }>,
    private readonly path: string,
  ) {
    this.#child = builderFor(type.item, `${path}[]`);
  }

  reset(rows: number): void {
    this.#validity.reset(rows);
    if (this.#offsets.length < rows + 1) this.#offsets = new Int32Array(rows + 1);
    this.#items = 0;
    this.#child.reset(rows);
  }

  append(value: unknown): void {
    const index = this.#validity.length;
    if (index + 1 >= this.#offsets.length) this.#offsets = grow(this.#offsets, index + 2);
    const present = value !== null && value !== undefined;
    if (present) {
      if (!Array.isArray(value)) throw new LakeEncodeError(this.path, 'expected an array');
      for (const item of value) this.#child.append(item);
      this.#items += value.length;
    }
    this.#validity.push(present);
    this.#offsets[index + 1] = this.#items;
  }

  finish(): Data {
    const length = this.#validity.length;
    return makeData({
      type: arrowType(this.type, this.path) as List,
      length,
      ...this.#validity.props(),
      valueOffsets: this.#offsets.subarray(0, length + 1),
      child: this.#child.finish(),
    });
  }
}
