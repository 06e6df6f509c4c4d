/**
 * The official Node SDK's own type model (aws-greengrass-core-sdk 1.7.0, stream-manager/data: each
 * request class's `typesMap`, `validationsMap` and enums), device/PROTOCOL.md's field table and
 * device/sm/model.ts kept equal: every field path the SDK can send is a row of the table and a field
 * of model.ts, and nothing else is; a request carrying the field, built with the SDK's classes, valid
 * by the SDK's own validator and encoded with its own CBOR library, is accepted or refused by
 * model.ts (parseRequest, then refuseUnsupportedExports) as the table's column says.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExportUnsupportedError, InvalidRequestError } from '../../../../device/sm/errors.ts';
import {
  appendRequest,
  connectRequest,
  createRequest,
  deleteRequest,
  describeRequest,
  listRequest,
  parseRequest,
  readRequest,
  refuseUnsupportedExports,
  updateRequest,
} from '../../../../device/sm/model.ts';
import { decodeCbor } from '../../../../device/sm/protocol.ts';
import type * as z from '../../../../shared/zod.ts';

const ROOT = join(import.meta.dirname, '../../../..');
const require = createRequire(import.meta.url);

/** What the SDK's generated classes have in common. */
interface SdkType {
  readonly name: string;
  readonly typesMap?: Record<string, { type: unknown; subtype: unknown }>;
  readonly validationsMap?: Record<string, { required?: boolean; minimum?: number }>;
  /** Enums: name → wire value. */
  readonly options?: Record<string, unknown>;
  fromMap(map: unknown): { asMap(): unknown };
}

const data = require('aws-greengrass-core-sdk/stream-manager/data') as Record<string, SdkType> & {
  Operation: SdkType;
};
const utilInternal = require('aws-greengrass-core-sdk/stream-manager/utilInternal') as {
  isInvalid(o: unknown): string | false;
};
// The CBOR library the SDK itself encodes requests with.
const sdkCbor = createRequire(require.resolve('aws-greengrass-core-sdk/stream-manager/client.js'))(
  'cbor',
) as {
  encode(value: unknown): Buffer;
};

/** The SDK's operations: its Operation enum without Unknown, the responses and the error. */
const OPERATIONS = Object.keys(data.Operation.options ?? {}).filter(
  (name) => name !== 'Unknown' && !name.endsWith('Response') && !name.endsWith('Error'),
);

const SCHEMAS: Record<string, z.ZodMiniType> = {
  Connect: connectRequest,
  CreateMessageStream: createRequest,
  UpdateMessageStream: updateRequest,
  DeleteMessageStream: deleteRequest,
  DescribeMessageStream: describeRequest,
  ListStreams: listRequest,
  AppendMessage: appendRequest,
  ReadMessages: readRequest,
};

const isModel = (type: unknown): type is SdkType =>
  typeof type === 'function' && (type as unknown as SdkType).typesMap !== undefined;

/** Every field path of an SDK class (`definition.exportDefinition.kinesis[].batchSize`), parents first. */
function sdkPaths(type: SdkType, prefix = ''): string[] {
  const out: string[] = [];
  for (const [field, { type: fieldType, subtype }] of Object.entries(type.typesMap ?? {})) {
    const path = prefix === '' ? field : `${prefix}.${field}`;
    out.push(path);
    if (fieldType === Array) {
      out.push(`${path}[]`);
      if (isModel(subtype)) out.push(...sdkPaths(subtype, `${path}[]`));
    } else if (isModel(fieldType)) {
      out.push(...sdkPaths(fieldType, path));
    }
  }
  return out;
}

/** A value of an SDK field type that its validationsMap accepts. */
function sample(
  type: unknown,
  subtype: unknown,
  minimum: number | undefined,
  want: string,
  at: string,
): unknown {
  if (type === Array) return [sample(subtype, null, undefined, want, `${at}[]`)];
  if (isModel(type)) return build(type, want, at);
  if (type === String) return at.endsWith('protocolVersion') || at.endsWith('[]') ? '1.0.0' : 'sample';
  if (type === Number) return minimum ?? 0;
  if (type === Boolean) return true;
  if (type === Buffer) return Buffer.from('sample');
  const options = (type as SdkType).options;
  if (options !== undefined) return Object.values(options)[0];
  throw new Error(`${at}: the SDK's type ${String(type)} has no sample here`);
}

/** A map of `type` with its required fields, and the fields on the way to `want`. */
function build(type: SdkType, want: string, prefix = ''): Record<string, unknown> {
  const map: Record<string, unknown> = {};
  for (const [field, { type: fieldType, subtype }] of Object.entries(type.typesMap ?? {})) {
    const path = prefix === '' ? field : `${prefix}.${field}`;
    const validation = type.validationsMap?.[field];
    const onTheWay = want === path || want.startsWith(`${path}.`) || want.startsWith(`${path}[]`);
    if (validation?.required !== true && !onTheWay) continue;
    map[field] = sample(fieldType, subtype, validation?.minimum, want, path);
  }
  return map;
}

/** Every path of keys in a decoded request, as the integration test records them. */
function wirePaths(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v) => wirePaths(v, `${prefix}[]`));
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array)
    return prefix === '' ? [] : [prefix];
  const out = prefix === '' ? [] : [prefix];
  for (const [k, v] of Object.entries(value)) out.push(...wirePaths(v, prefix === '' ? k : `${prefix}.${k}`));
  return out;
}

interface ZodDef {
  type: string;
  shape?: Record<string, z.ZodMiniType>;
  innerType?: z.ZodMiniType;
  element?: z.ZodMiniType;
}
const def = (schema: z.ZodMiniType) => (schema as unknown as { _zod: { def: ZodDef } })._zod.def;

/** Every field path model.ts's schema knows. */
function modelPaths(schema: z.ZodMiniType, prefix = ''): string[] {
  const d = def(schema);
  if (d.innerType !== undefined) return modelPaths(d.innerType, prefix);
  if (d.type === 'array' && d.element !== undefined)
    return [`${prefix}[]`, ...modelPaths(d.element, `${prefix}[]`)];
  if (d.type !== 'object' || d.shape === undefined) return [];
  const out: string[] = [];
  for (const [key, member] of Object.entries(d.shape)) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    out.push(path);
    // An array's `[]` path is its own row; an object's fields follow its own.
    out.push(...modelPaths(member, path).filter((p) => p !== path));
  }
  return out;
}

/** device/PROTOCOL.md's field table: `Operation path` → supported or refused. */
function table(): Map<string, string> {
  const doc = readFileSync(join(ROOT, 'device/PROTOCOL.md'), 'utf8');
  const rows = new Map<string, string>();
  for (const match of doc.matchAll(/^\| `(\w+)` \| `([^`]+)` \| (\w+) \|/gm)) {
    rows.set(`${match[1]} ${match[2]}`, match[3] ?? '');
  }
  return rows;
}

/** What model.ts does with a request carrying `path`: the table's word for it. */
function verdict(operation: string, path: string): string {
  const requestType = data[`${operation}Request`] as SdkType;
  const request = requestType.fromMap(build(requestType, path));
  const invalid = utilInternal.isInvalid(request);
  if (invalid !== false)
    throw new Error(`${operation} ${path}: the sample is invalid by the SDK: ${invalid}`);
  const wire = decodeCbor(sdkCbor.encode(request.asMap()));
  if (!wirePaths(wire).some((p) => p === path || p.startsWith(`${path}[]`)))
    throw new Error(`${operation} ${path}: the SDK did not send the field`);
  try {
    const parsed = parseRequest(SCHEMAS[operation] as z.ZodMiniType, wire) as {
      definition?: { exportDefinition?: Parameters<typeof refuseUnsupportedExports>[0] };
    };
    refuseUnsupportedExports(parsed.definition?.exportDefinition);
    return 'supported';
  } catch (error) {
    if (error instanceof InvalidRequestError || error instanceof ExportUnsupportedError) return 'refused';
    throw error;
  }
}

describe("the Node SDK's type model, device/PROTOCOL.md's field table and device/sm/model.ts", () => {
  it('cover the same operations: one request class and one schema for each', () => {
    expect(OPERATIONS.sort()).toEqual(Object.keys(SCHEMAS).sort());
    for (const operation of OPERATIONS) expect(isModel(data[`${operation}Request`]), operation).toBe(true);
  });

  it('list the same field paths', () => {
    const rows = table();
    const sdk = OPERATIONS.flatMap((op) =>
      sdkPaths(data[`${op}Request`] as SdkType).map((p) => `${op} ${p}`),
    );
    const model = OPERATIONS.flatMap((op) =>
      modelPaths(SCHEMAS[op] as z.ZodMiniType).map((p) => `${op} ${p}`),
    );
    expect(sdk.length).toBeGreaterThan(100);
    expect([...rows.keys()].sort()).toEqual([...sdk].sort());
    expect([...model].sort()).toEqual([...sdk].sort());
  });

  it('accept or refuse each field as the table says', () => {
    const rows = table();
    const seen = new Map<string, string>();
    for (const operation of OPERATIONS) {
      for (const path of sdkPaths(data[`${operation}Request`] as SdkType)) {
        seen.set(`${operation} ${path}`, verdict(operation, path));
      }
    }
    expect(Object.fromEntries(seen)).toEqual(Object.fromEntries(rows));
    expect([...seen.values()].filter((v) => v === 'refused').length).toBeGreaterThan(0);
  });
});
