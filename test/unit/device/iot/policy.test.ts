import { describe, expect, it } from 'vitest';
import { type IotPolicyDocument, iotAllows, resolveTemplateValue } from '../../../helpers/iot-policy.ts';

// The evaluator the DevicePolicy tests rely on, checked against IoT's documented rules.
const A = { clientId: 'gw-a', thingName: 'gw-a' };
const B = { clientId: 'gw-b', thingName: 'gw-b' };
const T = 'arn:aws:iot:eu-west-1:123456789012:topic';

const policy = (statements: IotPolicyDocument['Statement']): IotPolicyDocument => ({
  Version: '2012-10-17',
  Statement: statements,
});

describe('IoT policy evaluator (test helper)', () => {
  it('allows only what an Allow statement matches, after the thing-name variable is substituted', () => {
    const p = policy([
      {
        Effect: 'Allow',
        Action: ['iot:Publish'],
        Resource: `${T}/t/\${iot:Connection.Thing.ThingName}/status`,
      },
    ]);
    expect(iotAllows([p], 'iot:Publish', `${T}/t/gw-a/status`, A)).toBe(true);
    expect(iotAllows([p], 'IOT:PUBLISH', `${T}/t/gw-a/status`, A)).toBe(true);
    expect(iotAllows([p], 'iot:Publish', `${T}/t/gw-a/status`, B)).toBe(false);
    expect(iotAllows([p], 'iot:Receive', `${T}/t/gw-a/status`, A)).toBe(false);
    expect(iotAllows([p], 'iot:Publish', `${T}/t/gw-a/status/x`, A)).toBe(false);
    // No thing attached: the variable has no value and the statement matches nothing.
    expect(
      iotAllows([p], 'iot:Publish', `${T}/t/gw-a/status`, { clientId: 'gw-a', thingName: undefined }),
    ).toBe(false);
  });

  it('treats * and ? as wildcards, MQTT + and # as plain characters, and lets Deny win', () => {
    const p = policy([
      { Effect: 'Allow', Action: 'iot:*', Resource: [`${T}/a/*`, `${T}/b/?`, `${T}/c/+`] },
      { Effect: 'Deny', Action: 'iot:Publish', Resource: `${T}/a/secret` },
    ]);
    expect(iotAllows([p], 'iot:Receive', `${T}/a/x/y`, A)).toBe(true);
    expect(iotAllows([p], 'iot:Publish', `${T}/a/secret`, A)).toBe(false);
    expect(iotAllows([p], 'iot:Receive', `${T}/a/secret`, A)).toBe(true);
    expect(iotAllows([p], 'iot:Receive', `${T}/b/1`, A)).toBe(true);
    expect(iotAllows([p], 'iot:Receive', `${T}/b/12`, A)).toBe(false);
    expect(iotAllows([p], 'iot:Receive', `${T}/c/+`, A)).toBe(true);
    expect(iotAllows([p], 'iot:Receive', `${T}/c/x`, A)).toBe(false);
    expect(iotAllows([], 'iot:Receive', `${T}/a/x`, A)).toBe(false);
  });

  it('resolves Fn::Sub (pseudo parameters, the escape of a literal) and a role alias Fn::GetAtt', () => {
    const context = {
      partition: 'aws',
      region: 'eu-west-1',
      accountId: '123456789012',
      resources: { Alias: { Type: 'AWS::IoT::RoleAlias', Properties: { RoleAlias: 'dev-device' } } },
    };
    expect(
      resolveTemplateValue(
        {
          // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub template
          'Fn::Sub': 'arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:client/${!iot:ClientId}',
        },
        context,
      ),
    ).toBe(`arn:aws:iot:eu-west-1:123456789012:client/\${iot:ClientId}`);
    expect(resolveTemplateValue([{ 'Fn::GetAtt': ['Alias', 'RoleAliasArn'] }], context)).toEqual([
      'arn:aws:iot:eu-west-1:123456789012:rolealias/dev-device',
    ]);
  });
});
