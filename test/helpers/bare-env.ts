/**
 * An environment with no AWS credentials anywhere (variables, shared files, instance metadata) and
 * without the SDK-warning silencer vitest.config.ts sets for every test: for children whose own
 * silencing and credential errors are under test.
 */
export function envWithoutAwsCredentials(): NodeJS.ProcessEnv {
  const {
    AWS_PROFILE: _p,
    AWS_ACCESS_KEY_ID: _a,
    AWS_SECRET_ACCESS_KEY: _s,
    AWS_SESSION_TOKEN: _t,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: _w,
    ...env
  } = process.env;
  return {
    ...env,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}
