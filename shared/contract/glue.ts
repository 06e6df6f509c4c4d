import * as z from '../zod.ts';
import { GlueSchemaError } from './errors.ts';
import { strictSchemas } from './schema.ts';

/**
 * The Glue/Parquet column schema, derived from the record contract's JSON Schema, never written by
 * hand. Variants of the record union are merged: envelope columns are shared and `payload` becomes
 * one struct holding every payload type's fields (each nullable, as all Glue columns are).
 */

export interface GlueColumn {
  name: string;
  type: string;
  comment?: string;
}

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  glueType?: string;
  description?: string;
}

/** A type tree we can merge before printing it in Hive DDL syntax. */
type GlueNode =
  | { kind: 'scalar'; name: string }
  | { kind: 'struct'; fields: Map<string, GlueNode> }
  | { kind: 'map'; value: GlueNode }
  | { kind: 'array'; item: GlueNode };

function toNode(schema: JsonSchema, path: string): GlueNode {
  if (schema.glueType !== undefined) return { kind: 'scalar', name: schema.glueType };
  const variants = schema.oneOf ?? schema.anyOf;
  if (variants !== undefined) {
    return variants.map((v) => toNode(v, path)).reduce((a, b) => mergeNodes(a, b, path));
  }
  switch (schema.type) {
    case 'string':
      return { kind: 'scalar', name: 'string' };
    case 'integer':
      return { kind: 'scalar', name: 'bigint' };
    case 'number':
      return { kind: 'scalar', name: 'double' };
    case 'boolean':
      return { kind: 'scalar', name: 'boolean' };
    case 'array':
      if (schema.items === undefined) throw new GlueSchemaError(`${path}: array without item schema`);
      return { kind: 'array', item: toNode(schema.items, `${path}[]`) };
    case 'object': {
      if (schema.properties !== undefined && Object.keys(schema.properties).length > 0) {
        const fields = new Map<string, GlueNode>();
        for (const [name, child] of Object.entries(schema.properties)) {
          fields.set(name, toNode(child, `${path}.${name}`));
        }
        return { kind: 'struct', fields };
      }
      if (typeof schema.additionalProperties === 'object') {
        return { kind: 'map', value: toNode(schema.additionalProperties, `${path}.*`) };
      }
      throw new GlueSchemaError(`${path}: object without properties has no column type`);
    }
    default:
      throw new GlueSchemaError(`${path}: JSON Schema type ${JSON.stringify(schema.type)} has no Glue type`);
  }
}

function mergeNodes(a: GlueNode, b: GlueNode, path: string): GlueNode {
  if (a.kind === 'struct' && b.kind === 'struct') {
    const fields = new Map(a.fields);
    for (const [name, node] of b.fields) {
      const existing = fields.get(name);
      fields.set(name, existing === undefined ? node : mergeNodes(existing, node, `${path}.${name}`));
    }
    return { kind: 'struct', fields };
  }
  const left = render(a);
  const right = render(b);
  if (left !== right)
    throw new GlueSchemaError(`${path}: variants disagree on the column type (${left} vs ${right})`);
  return a;
}

function render(node: GlueNode): string {
  switch (node.kind) {
    case 'scalar':
      return node.name;
    case 'array':
      return `array<${render(node.item)}>`;
    case 'map':
      return `map<string,${render(node.value)}>`;
    case 'struct':
      return `struct<${[...node.fields].map(([name, child]) => `${name}:${render(child)}`).join(',')}>`;
  }
}

/** Columns of the raw records table, in contract order, with the contract's descriptions as comments. */
export function glueColumns(): GlueColumn[] {
  const root = z.toJSONSchema(strictSchemas.record, { io: 'output', unrepresentable: 'any' }) as JsonSchema;
  const merged = toNode(root, 'record');
  if (merged.kind !== 'struct') throw new GlueSchemaError('record: the contract root must be an object');
  const descriptions = new Map<string, string>();
  for (const variant of root.oneOf ?? [root]) {
    for (const [name, child] of Object.entries(variant.properties ?? {})) {
      if (child.description !== undefined) descriptions.set(name, child.description);
    }
  }
  return [...merged.fields].map(([name, node]) => {
    const comment = descriptions.get(name);
    return comment === undefined ? { name, type: render(node) } : { name, type: render(node), comment };
  });
}
