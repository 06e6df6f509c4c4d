import {
  type CollectionTag,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  type ScalarTag,
  type YAMLMap,
  type YAMLSeq,
} from 'yaml';
import { StackSyntaxError } from './errors.ts';

/** A parsed YAML file: its plain value, and where each property path sits in the source. */
export interface ParsedYaml {
  readonly file: string;
  readonly value: unknown;
  /** 1-based line of the deepest node on `path` that exists in the source (tagged values are leaves). */
  lineOf(path: readonly (string | number)[]): number | undefined;
}

/**
 * CloudFormation short-form functions, mapped to their long form exactly as CloudFormation (and
 * osls) read them: `!Ref X` → `{ Ref: X }`, `!GetAtt A.B` → `{ 'Fn::GetAtt': ['A', 'B'] }`,
 * `!Sub s` → `{ 'Fn::Sub': s }`, and so on.
 */
const FUNCTIONS: Record<string, string> = {
  Ref: 'Ref',
  Condition: 'Condition',
  GetAtt: 'Fn::GetAtt',
  Sub: 'Fn::Sub',
  Join: 'Fn::Join',
  Select: 'Fn::Select',
  Split: 'Fn::Split',
  Base64: 'Fn::Base64',
  Cidr: 'Fn::Cidr',
  FindInMap: 'Fn::FindInMap',
  GetAZs: 'Fn::GetAZs',
  ImportValue: 'Fn::ImportValue',
  If: 'Fn::If',
  Equals: 'Fn::Equals',
  Not: 'Fn::Not',
  And: 'Fn::And',
  Or: 'Fn::Or',
};

function cloudFormationTags(): (ScalarTag | CollectionTag)[] {
  const tags: (ScalarTag | CollectionTag)[] = [];
  for (const [short, long] of Object.entries(FUNCTIONS)) {
    const tag = `!${short}`;
    tags.push({
      tag,
      resolve: (text: string) => ({
        // `!GetAtt Resource.Attribute` splits at the first dot (attributes may contain dots).
        [long]: short === 'GetAtt' ? splitAtFirstDot(text) : text,
      }),
    });
    for (const collection of ['seq', 'map'] as const) {
      tags.push({
        tag,
        collection,
        resolve: (node: YAMLMap.Parsed | YAMLSeq.Parsed) => ({ [long]: node.toJSON() }),
      });
    }
  }
  return tags;
}

function splitAtFirstDot(text: string): string[] {
  const dot = text.indexOf('.');
  return dot < 0 ? [text] : [text.slice(0, dot), text.slice(dot + 1)];
}

/** Parses YAML with CloudFormation tags; syntax errors, unknown tags and duplicate keys throw StackSyntaxError. */
export function parseStackYaml(source: string, file: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, {
    customTags: cloudFormationTags(),
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
  });
  // Warnings include "Unresolved tag", i.e. a tag CloudFormation would not understand either.
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem !== undefined) {
    const offset = problem.pos[0];
    const line = lineCounter.linePos(offset).line;
    const snippet = source.split('\n')[line - 1]?.trim() ?? '';
    throw new StackSyntaxError(file, line, problem.message.split('\n')[0] ?? problem.message, snippet);
  }

  return {
    file,
    value: doc.toJS({ maxAliasCount: 100 }),
    lineOf(path) {
      let node: unknown = doc.contents;
      let start = isNodeWithRange(node) ? node.range?.[0] : undefined;
      for (const segment of path) {
        if (isMap(node)) {
          // A map entry is located by its key: for a block value that is the line naming it.
          const pair = node.items.find((item) => isScalar(item.key) && item.key.value === segment);
          if (pair === undefined) break;
          start = isNodeWithRange(pair.key) ? pair.key.range?.[0] : start;
          node = pair.value;
        } else if (isSeq(node) && typeof segment === 'number') {
          node = node.items[segment];
          if (!isNodeWithRange(node)) break;
          start = node.range?.[0];
        } else {
          break;
        }
      }
      return start === undefined ? undefined : lineCounter.linePos(start).line;
    },
  };
}

function isNodeWithRange(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && 'range' in value;
}
