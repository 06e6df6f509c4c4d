import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnalyticsJarMissingError, TemplateShapeError } from '../../../scripts/serverless/errors.ts';
import {
  applicationCodeKey,
  HOOKS,
  hashOfKey,
  jarKey,
  parseSettings,
  setApplicationCodeKey,
  sha256File,
  type Template,
} from '../../../scripts/serverless/flink-jar.ts';
import { ConfigError } from '../../../shared/errors.ts';
import { useTempDir } from '../../helpers/temp-dir.ts';
import { thrown } from '../../helpers/thrown.ts';

const SETTINGS = {
  jar: 'analytics/target/tributary-analytics-0.1.0.jar',
  application: 'App',
  keyPrefix: 'analytics/',
};
const HASH = 'a'.repeat(64);

function template(bucketArn: unknown = { 'Fn::GetAtt': ['ServerlessDeploymentBucket', 'Arn'] }): Template {
  return {
    Resources: {
      App: {
        Type: 'AWS::KinesisAnalyticsV2::Application',
        Properties: {
          ApplicationConfiguration: {
            ApplicationCodeConfiguration: {
              CodeContent: {
                S3ContentLocation: { BucketARN: bucketArn, FileKey: 'analytics/placeholder.jar' },
              },
            },
          },
        },
      },
    },
  };
}

const tmp = useTempDir('tributary-flink-jar-');

describe('Flink JAR plugin pieces', () => {
  it('keys the JAR by its content, under the prefix, keeping its name', async () => {
    const jar = join(tmp.path, 'code.jar');
    await writeFile(jar, 'abc');
    // sha256("abc"), the FIPS 180-2 test vector.
    const hash = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
    expect(await sha256File(jar)).toBe(hash);
    const key = jarKey(parseSettings({ analyticsCode: SETTINGS }), hash);
    expect(key).toBe(`analytics/tributary-analytics-0.1.0-${hash}.jar`);
    expect(hashOfKey(key)).toBe(hash);
    expect(hashOfKey('analytics/placeholder.jar')).toBeUndefined();
  });

  it('a missing JAR says how to build it', async () => {
    const error = await sha256File(join(tmp.path, 'missing.jar')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AnalyticsJarMissingError);
    expect(error).toMatchObject({ code: 'ANALYTICS_JAR_MISSING', path: join(tmp.path, 'missing.jar') });
    expect((error as Error).message).toContain('npm run package:analytics');
  });

  it('names the setting and the bad value', () => {
    const error = thrown(() => parseSettings({ analyticsCode: { ...SETTINGS, keyPrefix: 'analytics' } }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ path: 'custom.analyticsCode.keyPrefix', value: 'analytics' });
    expect(thrown(() => parseSettings({}))).toMatchObject({ path: 'custom.analyticsCode' });
  });

  it('writes and reads the key in the template', () => {
    const t = template();
    expect(() => applicationCodeKey(t, 'App')).toThrow(TemplateShapeError);
    const key = `analytics/x-${HASH}.jar`;
    setApplicationCodeKey(t, 'App', key);
    expect(applicationCodeKey(t, 'App')).toBe(key);
  });

  it('refuses a template without the application or with code in another bucket', () => {
    expect(thrown(() => setApplicationCodeKey(template(), 'Other', 'k'))).toMatchObject({
      code: 'TEMPLATE_SHAPE',
      path: 'Resources.Other.Properties.ApplicationConfiguration.ApplicationCodeConfiguration.CodeContent.S3ContentLocation',
    });
    expect(
      thrown(() => setApplicationCodeKey(template('arn:aws:s3:::elsewhere'), 'App', 'k')),
    ).toBeInstanceOf(TemplateShapeError);
  });

  it('the osls entry (flink-jar-plugin.mjs) registers exactly the hooks the plugin implements', async () => {
    // Read, not imported: importing it registers tsx's loader inside the test worker.
    const entry = await readFile(
      new URL('../../../scripts/serverless/flink-jar-plugin.mjs', import.meta.url),
      'utf8',
    );
    const list = /export const HOOKS = \[([^\]]*)\]/.exec(entry)?.[1] ?? '';
    const names = [...list.matchAll(/'([^']+)'/g)].map((m) => m[1]);
    expect(names).toEqual(Object.values(HOOKS));
  });
});
