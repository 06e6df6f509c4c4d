/**
 * The SDK's default credential chain (env, profile, SSO, web identity, ECS/EC2 metadata), loaded
 * only for `credentials.source: default-chain` against AWS. Imported through this ESM module for
 * the same reason as ./yaml.ts: a CommonJS package in a lazy chunk of the bundle has only a default export.
 */
export { defaultProvider } from '@aws-sdk/credential-provider-node';
