export * from './codec.ts';
export * from './errors.ts';
export * from './glue.ts';
export * from './schema.ts';
