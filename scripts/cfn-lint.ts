/**
 * Lints the CloudFormation templates `osls package` wrote (default: .serverless/*update-stack.json)
 * with the project venv's cfn-lint plus the serverless rules (PyPI cfn-lint-serverless: tracing, log
 * retention, DLQs, ...). Any error or warning fails: exit code is cfn-lint's own. A finding that does
 * not apply is justified next to the resource in serverless.yml (Metadata cfn-lint ignore_checks).
 *
 *   npm run package && npm run cfn-lint              # or: node --import tsx scripts/cfn-lint.ts [template...]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const cfnLint = join(root, '.venv', 'bin', 'cfn-lint');
const venvPython = join(root, '.venv', 'bin', 'python3');
/** cfn-lint-serverless's rule module, appended to cfn-lint's own rules. */
const SERVERLESS_RULES_MODULE = 'cfn_lint_serverless.rules';
const templates = process.argv.slice(2);
if (templates.length === 0)
  templates.push(join(root, '.serverless', 'cloudformation-template-update-stack.json'));

const rulesInstalled =
  existsSync(cfnLint) &&
  spawnSync(venvPython, ['-c', `import ${SERVERLESS_RULES_MODULE}`], { stdio: 'ignore' }).status === 0;
if (!rulesInstalled) {
  console.error(
    `cfn-lint: ${relative(process.cwd(), cfnLint)} or its serverless rules not installed; install both with\n` +
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

const result = spawnSync(
  cfnLint,
  ['--format', 'parseable', '--append-rules', SERVERLESS_RULES_MODULE, '--', ...templates],
  { stdio: 'inherit' },
);
if (result.error !== undefined) {
  console.error(`cfn-lint: could not run ${cfnLint}: ${result.error.message}`);
  process.exit(2);
}
if (result.status === 0)
  console.log(`cfn-lint: ${templates.map((t) => relative(process.cwd(), t)).join(', ')} clean`);
process.exit(result.status ?? 1);
