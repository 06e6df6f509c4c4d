import rulesFile from '../rules.json' with { type: 'json' };
import { parseRulesConfig, type RulesConfig } from './config.ts';

/**
 * functions/alerts/rules.json, validated. esbuild inlines the JSON into the Lambda bundle and the
 * local runner imports the same file, so AWS and local evaluate identical rules. A broken file fails
 * at cold start (and in the unit tests), never silently at the first matching record.
 */
export const bundledRules: RulesConfig = parseRulesConfig(rulesFile);
