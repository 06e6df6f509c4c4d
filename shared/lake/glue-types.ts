import { LakeSchemaError } from './errors.ts';

/**
 * Hive/Glue column types as a tree, parsed from the DDL strings `glueColumns()` prints
 * (`struct<a:string,b:map<string,string>>`). The Parquet writer and the query layer both walk this
 * tree, so the lake's physical schema follows the contract without a second hand-kept copy.
 */
export type GlueType =
  | { kind: 'string' }
  | { kind: 'int' }
  | { kind: 'bigint' }
  | { kind: 'double' }
  | { kind: 'boolean' }
  | { kind: 'struct'; fields: readonly { name: string; type: GlueType }[] }
  | { kind: 'map'; key: GlueType; value: GlueType }
  | { kind: 'array'; item: GlueType };

const SCALARS = new Set(['string', 'int', 'bigint', 'double', 'boolean']);

class Parser {
  private pos = 0;

  constructor(private readonly text: string) {}

  parse(): GlueType {
    const type = this.type();
    if (this.pos !== this.text.length) this.fail('trailing characters');
    return type;
  }

  private type(): GlueType {
    const name = this.identifier();
    if (SCALARS.has(name)) return { kind: name } as GlueType;
    if (name !== 'array' && name !== 'map' && name !== 'struct') this.fail(`unsupported type "${name}"`);
    this.expect('<');
    switch (name) {
      case 'array': {
        const item = this.type();
        this.expect('>');
        return { kind: 'array', item };
      }
      case 'map': {
        const key = this.type();
        this.expect(',');
        const value = this.type();
        this.expect('>');
        return { kind: 'map', key, value };
      }
      default: {
        const fields: { name: string; type: GlueType }[] = [];
        for (;;) {
          const field = this.identifier();
          this.expect(':');
          fields.push({ name: field, type: this.type() });
          if (this.peek() === '>') break;
          this.expect(',');
        }
        this.expect('>');
        return { kind: 'struct', fields };
      }
    }
  }

  private identifier(): string {
    const match = /^[a-z_][a-z0-9_]*/i.exec(this.text.slice(this.pos));
    if (match === null) return this.fail('expected a name');
    this.pos += match[0].length;
    return match[0];
  }

  private peek(): string | undefined {
    return this.text[this.pos];
  }

  private expect(char: string): void {
    if (this.text[this.pos] !== char) this.fail(`expected "${char}"`);
    this.pos += 1;
  }

  private fail(reason: string): never {
    throw new LakeSchemaError(`Glue type ${JSON.stringify(this.text)} at ${this.pos}: ${reason}`);
  }
}

export function parseGlueType(text: string): GlueType {
  return new Parser(text).parse();
}

/** Prints a tree back in Glue DDL syntax (the inverse of parseGlueType). */
export function renderGlueType(type: GlueType): string {
  switch (type.kind) {
    case 'struct':
      return `struct<${type.fields.map((f) => `${f.name}:${renderGlueType(f.type)}`).join(',')}>`;
    case 'map':
      return `map<${renderGlueType(type.key)},${renderGlueType(type.value)}>`;
    case 'array':
      return `array<${renderGlueType(type.item)}>`;
    default:
      return type.kind;
  }
}
