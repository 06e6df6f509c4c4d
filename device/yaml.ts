/**
 * The YAML parser, loaded only for YAML configs. Imported through this ESM module rather than
 * `import('yaml')` directly: in the device bundle a CommonJS package split into a lazy chunk exposes
 * only a default export, and `.parse` would be undefined.
 */
export { parse } from 'yaml';
