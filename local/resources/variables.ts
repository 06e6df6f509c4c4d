import { readFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { formatPath } from '../../shared/errors.ts';
import { type StackLocation, StackVariableError } from './errors.ts';

/**
 * Resolves Serverless Framework variables (`${source:address, fallback}`) the way osls does for the
 * sources this stack uses: `self`, `sls:stage`, `opt`, `aws:region`, `aws:accountId`, `env`, and
 * `file(...)` of JSON/YAML files. Anything else (`ssm`, `cf`, ...) is an error rather than a silently
 * kept string.
 * CloudFormation's own `${AWS::Region}` / `${Resource.Attr}` inside `Fn::Sub` are not variables:
 * like osls, a variable starts only with a lowercase source type followed by `:` or `(`.
 */

type Path = readonly (string | number)[];

interface Variable {
  readonly text: string;
  readonly sources: readonly Source[];
}

type Piece = string | Variable;

type Source =
  | { kind: 'literal'; value: string | number }
  | { kind: 'nested'; variable: Variable }
  | { kind: 'ref'; type: string; params: string | undefined; address: readonly Piece[] };

export interface VariableContext {
  readonly file: string;
  readonly options: { readonly stage?: string; readonly region?: string };
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly accountId: string;
  lineOf(path: Path): number | undefined;
}

const VARIABLE_START = /^\$\{[a-z][a-zA-Z0-9]*[:(]/;
const SOURCE_TYPE = /^[a-z][a-zA-Z0-9]*/;
const NUMBER = /^-?\d+(\.\d+)?(?=\s*[,}])/;

/** A `${...}` template that does not parse; never escapes: it is rethrown as a StackVariableError. */
class TemplateSyntaxError extends Error {}

class TemplateParser {
  private pos = 0;

  constructor(private readonly text: string) {}

  template(): Piece[] {
    const pieces: Piece[] = [];
    let literal = '';
    while (this.pos < this.text.length) {
      if (this.startsVariable()) {
        if (literal !== '') pieces.push(literal);
        literal = '';
        pieces.push(this.variable());
      } else {
        literal += this.text[this.pos];
        this.pos += 1;
      }
    }
    if (literal !== '') pieces.push(literal);
    return pieces;
  }

  private startsVariable(): boolean {
    return VARIABLE_START.test(this.text.slice(this.pos, this.pos + 64));
  }

  private variable(): Variable {
    const start = this.pos;
    this.pos += 2;
    const sources: Source[] = [];
    for (;;) {
      this.skipSpaces();
      sources.push(this.source());
      this.skipSpaces();
      const char = this.text[this.pos];
      this.pos += 1;
      if (char === '}') break;
      if (char !== ',') {
        throw new TemplateSyntaxError(
          char === undefined ? 'unterminated variable' : `expected "," or "}" at ${JSON.stringify(char)}`,
        );
      }
    }
    return { text: this.text.slice(start, this.pos), sources };
  }

  private source(): Source {
    const rest = this.text.slice(this.pos);
    const quote = rest[0];
    if (quote === "'" || quote === '"') {
      const end = this.text.indexOf(quote, this.pos + 1);
      if (end < 0) throw new TemplateSyntaxError('unterminated quoted fallback');
      const value = this.text.slice(this.pos + 1, end);
      this.pos = end + 1;
      return { kind: 'literal', value };
    }
    if (this.startsVariable()) return { kind: 'nested', variable: this.variable() };
    const number = NUMBER.exec(rest);
    if (number !== null) {
      this.pos += number[0].length;
      return { kind: 'literal', value: Number(number[0]) };
    }
    const type = SOURCE_TYPE.exec(rest);
    if (type === null) throw new TemplateSyntaxError(`unexpected ${JSON.stringify(rest.slice(0, 20))}`);
    this.pos += type[0].length;
    let params: string | undefined;
    if (this.text[this.pos] === '(') {
      const close = this.text.indexOf(')', this.pos);
      if (close < 0) throw new TemplateSyntaxError('unterminated source parameters');
      params = this.text.slice(this.pos + 1, close);
      this.pos = close + 1;
    }
    const address: Piece[] = [];
    if (this.text[this.pos] === ':') {
      this.pos += 1;
      let literal = '';
      while (this.pos < this.text.length) {
        const char = this.text[this.pos];
        if (char === ',' || char === '}') break;
        if (this.startsVariable()) {
          if (literal !== '') address.push(literal);
          literal = '';
          address.push(this.variable());
        } else {
          literal += char;
          this.pos += 1;
        }
      }
      if (literal.trim() !== '') address.push(literal.trimEnd());
    }
    return { kind: 'ref', type: type[0], params, address };
  }

  private skipSpaces(): void {
    while (this.text[this.pos] === ' ') this.pos += 1;
  }
}

export class VariableResolver {
  private readonly memo = new Map<string, unknown>();
  private readonly resolving = new Set<string>();
  private stageValue: string | undefined;
  private regionValue: string | undefined;

  constructor(
    private readonly config: unknown,
    private readonly context: VariableContext,
  ) {}

  /** The fully resolved value at `path` (undefined if the path does not exist). */
  resolve(path: Path): unknown {
    let current: unknown = this.config;
    const walked: (string | number)[] = [];
    for (const segment of path) {
      current = this.shallow(current, walked);
      if (typeof current !== 'object' || current === null) return undefined;
      current = (current as Record<string | number, unknown>)[segment];
      walked.push(segment);
    }
    return this.deep(current, walked);
  }

  /** `${sls:stage}`: the --stage option, else provider.stage, else 'dev' (osls order). */
  stage(): string {
    this.stageValue ??= this.context.options.stage ?? this.stringAt(['provider', 'stage']) ?? 'dev';
    return this.stageValue;
  }

  /** `${aws:region}`: the --region option, else provider.region, else 'us-east-1' (osls order). */
  region(): string {
    this.regionValue ??= this.context.options.region ?? this.stringAt(['provider', 'region']) ?? 'us-east-1';
    return this.regionValue;
  }

  location(path: Path): StackLocation {
    const line = this.context.lineOf(path);
    const logicalId = path[0] === 'resources' && path[1] === 'Resources' ? path[2] : undefined;
    return {
      file: this.context.file,
      ...(line === undefined ? {} : { line }),
      ...(typeof logicalId === 'string' ? { logicalId } : {}),
    };
  }

  private stringAt(path: Path): string | undefined {
    const value = this.resolve(path);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') {
      throw new StackVariableError(
        formatPath(path),
        String(value),
        'must resolve to a string',
        this.location(path),
      );
    }
    return value;
  }

  private shallow(value: unknown, path: Path): unknown {
    return typeof value === 'string' && value.includes('${') ? this.resolveString(value, path) : value;
  }

  private deep(value: unknown, path: Path): unknown {
    if (typeof value === 'string') return this.shallow(value, path);
    if (Array.isArray(value)) return value.map((item, index) => this.deep(item, [...path, index]));
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(
        Object.entries(value).map(([key, item]) => [key, this.deep(item, [...path, key])]),
      );
    }
    return value;
  }

  private resolveString(text: string, path: Path): unknown {
    const key = JSON.stringify(path);
    if (this.memo.has(key)) return this.memo.get(key);
    if (this.resolving.has(key)) {
      throw new StackVariableError(
        formatPath(path),
        text,
        'circular variable reference',
        this.location(path),
      );
    }
    this.resolving.add(key);
    try {
      let pieces: Piece[];
      try {
        pieces = new TemplateParser(text).template();
      } catch (error) {
        if (!(error instanceof TemplateSyntaxError)) throw error;
        throw new StackVariableError(
          formatPath(path),
          text,
          `malformed variable: ${error.message}`,
          this.location(path),
        );
      }
      const value = this.interpolate(pieces, path);
      this.memo.set(key, value);
      return value;
    } finally {
      this.resolving.delete(key);
    }
  }

  /** A string that is exactly one variable keeps the variable's type; otherwise pieces are joined. */
  private interpolate(pieces: readonly Piece[], path: Path): unknown {
    const [only] = pieces;
    if (pieces.length === 1 && only !== undefined && typeof only !== 'string')
      return this.required(only, path);
    let out = '';
    for (const piece of pieces) {
      if (typeof piece === 'string') {
        out += piece;
        continue;
      }
      const value = this.required(piece, path);
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        throw new StackVariableError(
          formatPath(path),
          piece.text,
          'resolves to a non-scalar value inside a string',
          this.location(path),
        );
      }
      out += String(value);
    }
    return out;
  }

  private required(variable: Variable, path: Path): unknown {
    const value = this.optional(variable, path);
    if (value === undefined) {
      throw new StackVariableError(
        formatPath(path),
        variable.text,
        'has no value and no fallback',
        this.location(path),
      );
    }
    return value;
  }

  private optional(variable: Variable, path: Path): unknown {
    for (const source of variable.sources) {
      const value = this.source(source, variable, path);
      if (value !== undefined && value !== null) return value;
    }
    return undefined;
  }

  private source(source: Source, variable: Variable, path: Path): unknown {
    if (source.kind === 'literal') return source.value;
    if (source.kind === 'nested') return this.optional(source.variable, path);
    const resolved = this.interpolate(source.address, path);
    const address = typeof resolved === 'number' ? String(resolved) : resolved;
    const unsupported = (reason: string) =>
      new StackVariableError(formatPath(path), variable.text, reason, this.location(path));
    if (typeof address !== 'string') throw unsupported('variable address must be a string');
    if (source.type === 'file' && source.params !== undefined) {
      return this.file(source.params, address, unsupported);
    }
    if (source.params !== undefined) {
      throw unsupported(`variable source "${source.type}(...)" is not resolvable locally`);
    }
    switch (source.type) {
      case 'self':
        return address === '' ? this.config : this.resolve(address.split('.'));
      case 'opt':
        return address === 'stage' || address === 'region' ? this.context.options[address] : undefined;
      case 'sls':
        if (address === 'stage') return this.stage();
        throw unsupported(`"sls:${address}" is not resolvable locally`);
      case 'aws':
        if (address === 'region') return this.region();
        if (address === 'accountId') return this.context.accountId;
        throw unsupported(`"aws:${address}" is not resolvable locally`);
      case 'env':
        return this.context.env[address];
      default:
        throw unsupported(`variable source "${source.type}" is not resolvable locally`);
    }
  }

  /** `${file(./x.json)}` / `${file(./x.yml):a.b}`: relative to serverless.yml, like osls; JSON and YAML only. */
  private file(relativePath: string, address: string, unsupported: (reason: string) => Error): unknown {
    const path = resolvePath(dirname(this.context.file), relativePath.trim());
    if (!/\.(json|ya?ml)$/.test(path)) throw unsupported('file(...) reads .json, .yml or .yaml files only');
    let content: unknown;
    try {
      content = parseYaml(readFileSync(path, 'utf8'));
    } catch (error) {
      throw unsupported(
        `file(...) cannot read ${relativePath}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    let value = content;
    for (const segment of address === '' ? [] : address.split('.')) {
      if (typeof value !== 'object' || value === null) return undefined;
      value = (value as Record<string, unknown>)[segment];
    }
    return value;
  }
}
