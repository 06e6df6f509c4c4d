export * from './codec.ts';
export * from './errors.ts';
export * from './glue.ts';
export * from './json-scan.ts';
export * from './schema.ts';
