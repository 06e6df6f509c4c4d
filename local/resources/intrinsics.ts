/**
 * Evaluates the CloudFormation intrinsic functions a local stack needs to know names and ARNs:
 * Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, Fn::Split. Values that exist only after an
 * AWS deployment (KMS key ids, consumer ARNs, queue URLs) are reported by the context as errors.
 */

export type Path = readonly (string | number)[];

export interface IntrinsicContext {
  /** Value of a pseudo parameter (`AWS::Region`, ...), or undefined if unknown. */
  pseudo(name: string): string | undefined;
  ref(logicalId: string, path: Path): string;
  getAtt(logicalId: string, attribute: string, path: Path): string;
  fail(path: Path, value: unknown, reason: string): never;
}

const EVALUATED = new Set(['Ref', 'Fn::GetAtt', 'Fn::Sub', 'Fn::Join', 'Fn::Select', 'Fn::Split']);

export function evaluate(value: unknown, path: Path, context: IntrinsicContext): unknown {
  if (Array.isArray(value)) return value.map((item, index) => evaluate(item, [...path, index], context));
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value);
  const [first] = entries;
  if (entries.length === 1 && first !== undefined && (first[0] === 'Ref' || first[0].startsWith('Fn::'))) {
    const [name, argument] = first;
    if (!EVALUATED.has(name)) context.fail(path, value, `${name} is not evaluated locally`);
    return evaluateFunction(name, argument, [...path, name], context);
  }
  return Object.fromEntries(entries.map(([key, item]) => [key, evaluate(item, [...path, key], context)]));
}

function evaluateFunction(name: string, argument: unknown, path: Path, context: IntrinsicContext): unknown {
  switch (name) {
    case 'Ref': {
      const target = evaluateString(argument, path, context);
      return context.pseudo(target) ?? context.ref(target, path);
    }
    case 'Fn::GetAtt': {
      const args = evaluate(argument, path, context);
      const [logicalId, attribute] = Array.isArray(args) && args.length === 2 ? args : [];
      if (typeof logicalId !== 'string' || typeof attribute !== 'string') {
        return context.fail(path, argument, 'Fn::GetAtt takes [LogicalId, Attribute]');
      }
      return context.getAtt(logicalId, attribute, path);
    }
    case 'Fn::Sub':
      return substitute(argument, path, context);
    case 'Fn::Join': {
      if (!Array.isArray(argument) || argument.length !== 2) {
        return context.fail(path, argument, 'Fn::Join takes [delimiter, [values]]');
      }
      const delimiter = evaluateString(argument[0], [...path, 0], context);
      const list = evaluate(argument[1], [...path, 1], context);
      if (!Array.isArray(list)) return context.fail([...path, 1], argument[1], 'Fn::Join needs a list');
      return list.map((item, index) => asString(item, [...path, 1, index], context)).join(delimiter);
    }
    case 'Fn::Select': {
      if (!Array.isArray(argument) || argument.length !== 2) {
        return context.fail(path, argument, 'Fn::Select takes [index, [values]]');
      }
      const index = Number(evaluate(argument[0], [...path, 0], context));
      const list = evaluate(argument[1], [...path, 1], context);
      if (!Array.isArray(list)) return context.fail([...path, 1], argument[1], 'Fn::Select needs a list');
      if (!Number.isInteger(index) || index < 0 || index >= list.length) {
        return context.fail([...path, 0], argument[0], `index out of range for a list of ${list.length}`);
      }
      return list[index];
    }
    default: {
      // Fn::Split — the only other member of EVALUATED.
      if (!Array.isArray(argument) || argument.length !== 2) {
        return context.fail(path, argument, 'Fn::Split takes [delimiter, source]');
      }
      const delimiter = evaluateString(argument[0], [...path, 0], context);
      return evaluateString(argument[1], [...path, 1], context).split(delimiter);
    }
  }
}

/** `Fn::Sub`: `${Name}` is a pseudo parameter, a variable, or a Ref; `${Id.Attr}` a GetAtt; `${!x}` a literal. */
function substitute(argument: unknown, path: Path, context: IntrinsicContext): string {
  let template: unknown = argument;
  let variables: Record<string, unknown> = {};
  if (Array.isArray(argument)) {
    const [text, vars] = argument;
    if (argument.length !== 2 || typeof vars !== 'object' || vars === null || Array.isArray(vars)) {
      return context.fail(path, argument, 'Fn::Sub takes a string or [string, {variables}]');
    }
    template = text;
    variables = vars as Record<string, unknown>;
  }
  if (typeof template !== 'string') return context.fail(path, argument, 'Fn::Sub needs a template string');
  return template.replace(/\$\{([^}]*)\}/g, (_match, inner: string) => {
    const name = inner.trim();
    if (name.startsWith('!')) return `\${${name.slice(1)}}`;
    if (Object.hasOwn(variables, name))
      return asString(evaluate(variables[name], [...path, 1, name], context), path, context);
    const pseudo = context.pseudo(name);
    if (pseudo !== undefined) return pseudo;
    const dot = name.indexOf('.');
    if (dot > 0) return context.getAtt(name.slice(0, dot), name.slice(dot + 1), path);
    return context.ref(name, path);
  });
}

function evaluateString(value: unknown, path: Path, context: IntrinsicContext): string {
  return asString(evaluate(value, path, context), path, context);
}

function asString(value: unknown, path: Path, context: IntrinsicContext): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return context.fail(path, value, 'expected a string');
}
