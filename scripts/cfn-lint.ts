/**
 * Lints the CloudFormation templates `osls package` wrote (default: .serverless/*update-stack.json)
 * with the project venv's cfn-lint. Any error or warning fails: exit code is cfn-lint's own.
 *
 *   npm run package && npm run cfn-lint              # or: node --import tsx scripts/cfn-lint.ts [template...]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const cfnLint = join(root, '.venv', 'bin', 'cfn-lint');
const templates = process.argv.slice(2);
if (templates.length === 0)
  templates.push(join(root, '.serverless', 'cloudformation-template-update-stack.json'));

if (!existsSync(cfnLint)) {
  console.error(
    `cfn-lint: ${relative(process.cwd(), cfnLint)} not found; create it with\n` +
      '  python3 -m venv .venv && .venv/bin/pip install -r scripts/cfn-lint-requirements.txt',
  );
  process.exit(2);
}
const missing = templates.filter((template) => !existsSync(template));
if (missing.length > 0) {
  console.error(
    `cfn-lint: no template at ${missing.join(', ')}; run \`npm run package\` (or \`npx osls package\`) first`,
  );
  process.exit(2);
}

const result = spawnSync(cfnLint, ['--format', 'parseable', '--', ...templates], { stdio: 'inherit' });
if (result.error !== undefined) {
  console.error(`cfn-lint: could not run ${cfnLint}: ${result.error.message}`);
  process.exit(2);
}
if (result.status === 0)
  console.log(`cfn-lint: ${templates.map((t) => relative(process.cwd(), t)).join(', ')} clean`);
process.exit(result.status ?? 1);
