/**
 * A small evaluator of AWS IoT Core policies, for tests: does a policy let a connection do an action
 * on a resource? What it implements of IoT's rules: a request is denied unless an Allow statement
 * matches it and no Deny statement does; Action and Resource patterns match with `*` (any characters,
 * `/` included) and `?` (one character), actions case-insensitively; MQTT's `+` and `#` are plain
 * characters in a policy; policy variables (`${iot:Connection.Thing.ThingName}`, `${iot:ClientId}`)
 * are replaced with the connection's values first, and a statement whose variable has no value (no
 * thing attached to the certificate) matches nothing. Conditions are not supported and refused.
 *
 * It also resolves what the policy's Resources are in a CloudFormation template (Fn::Sub with pseudo
 * parameters and `${!literal}`, Fn::GetAtt of a role alias), so tests can read the packaged template.
 */

export interface IotPolicyStatement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | readonly string[];
  readonly Resource: string | readonly string[];
  readonly Sid?: string;
  readonly Condition?: unknown;
}

export interface IotPolicyDocument {
  readonly Version?: string;
  readonly Statement: IotPolicyStatement | readonly IotPolicyStatement[];
}

/** The connection a request comes from. `thingName` is undefined when no thing is attached. */
export interface IotConnection {
  readonly clientId: string;
  readonly thingName: string | undefined;
}

const VARIABLE = /\$\{([^}]*)\}/g;

function pattern(glob: string, flags = ''): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\#]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, `${flags}s`);
}

/** The resource pattern with the connection's values in place, or undefined when one has none. */
function substitute(resource: string, connection: IotConnection): string | undefined {
  let unresolved = false;
  const out = resource.replace(VARIABLE, (_, name: string) => {
    const value =
      name === 'iot:Connection.Thing.ThingName'
        ? connection.thingName
        : name === 'iot:ClientId'
          ? connection.clientId
          : undefined;
    if (value === undefined) unresolved = true;
    return value ?? '';
  });
  return unresolved ? undefined : out;
}

function matches(statement: IotPolicyStatement, action: string, resource: string, connection: IotConnection) {
  if (statement.Condition !== undefined) throw new Error('iot-policy: Condition is not supported');
  const actionMatches = [statement.Action].flat().some((a) => pattern(a, 'i').test(action));
  if (!actionMatches) return false;
  return [statement.Resource].flat().some((r) => {
    const concrete = substitute(r, connection);
    return concrete !== undefined && pattern(concrete).test(resource);
  });
}

/** True when the policies allow `action` on `resource` for `connection`. */
export function iotAllows(
  policies: readonly IotPolicyDocument[],
  action: string,
  resource: string,
  connection: IotConnection,
): boolean {
  const statements = policies.flatMap((p) => [p.Statement].flat());
  if (statements.some((s) => s.Effect === 'Deny' && matches(s, action, resource, connection))) return false;
  return statements.some((s) => s.Effect === 'Allow' && matches(s, action, resource, connection));
}

/** Every action any statement names (to check that nothing beyond the expected is granted). */
export function grantedActions(policy: IotPolicyDocument): string[] {
  return [
    ...new Set([policy.Statement].flat().flatMap((s) => (s.Effect === 'Allow' ? [s.Action].flat() : []))),
  ];
}

export interface TemplateContext {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
  readonly resources: Readonly<Record<string, { Type: string; Properties?: Record<string, unknown> }>>;
}

function getAtt(context: TemplateContext, logicalId: string, attribute: string): string {
  const resource = context.resources[logicalId];
  const prefix = `arn:${context.partition}:iot:${context.region}:${context.accountId}`;
  if (resource?.Type === 'AWS::IoT::RoleAlias' && attribute === 'RoleAliasArn') {
    return `${prefix}:rolealias/${String(resource.Properties?.RoleAlias)}`;
  }
  throw new Error(`iot-policy: cannot resolve Fn::GetAtt ${logicalId}.${attribute}`);
}

/** A template value with Fn::Sub, Fn::GetAtt and pseudo parameters resolved (what IoT gets to see). */
export function resolveTemplateValue(value: unknown, context: TemplateContext): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveTemplateValue(v, context));
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  if ('Fn::Sub' in record && typeof record['Fn::Sub'] === 'string') {
    return record['Fn::Sub'].replace(VARIABLE, (_, name: string) => {
      if (name.startsWith('!')) return `\${${name.slice(1)}}`;
      if (name === 'AWS::Partition') return context.partition;
      if (name === 'AWS::Region') return context.region;
      if (name === 'AWS::AccountId') return context.accountId;
      const [logicalId = '', attribute] = name.split('.');
      if (attribute !== undefined) return getAtt(context, logicalId, attribute);
      throw new Error(`iot-policy: cannot resolve \${${name}} in Fn::Sub`);
    });
  }
  if ('Fn::GetAtt' in record) {
    const target = record['Fn::GetAtt'];
    const [logicalId = '', attribute = ''] = Array.isArray(target) ? target : String(target).split('.');
    return getAtt(context, String(logicalId), String(attribute));
  }
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, resolveTemplateValue(v, context)]));
}

/**
 * Every request the agent makes with its certificate, as (action, resource) pairs, from the agent's
 * own code: the client id its config resolves to, the topics topicsFor builds with the default
 * prefix, an answer on a request's own response topic, and the role alias it assumes.
 */
export async function agentIotRequests(
  thingName: string,
  arn: { readonly partition: string; readonly region: string; readonly accountId: string },
  roleAliasArn: string,
): Promise<{ action: string; resource: string }[]> {
  const { parseConfig } = await import('../../device/config.ts');
  const { responseTopicFor, topicsFor } = await import('../../device/iot/status.ts');
  const config = parseConfig({
    storeRoot: '/var/lib/tributary',
    deviceId: thingName,
    aws: {
      region: arn.region,
      credentials: {
        source: 'iot',
        credentialsEndpoint: 'c.credentials.iot.example',
        thingName,
        roleAlias: 'alias',
        certificateFile: 'device.pem.crt',
        privateKeyFile: 'private.pem.key',
      },
    },
    iot: { mqtt: { endpoint: 'a-ats.iot.example' } },
    streams: [{ name: 'telemetry' }],
  });
  const mqtt = config.mqtt;
  if (mqtt === undefined) throw new Error('iot-policy: the config has no mqtt section');
  const topics = topicsFor(mqtt.topicPrefix, mqtt.thingName);
  const iot = (kind: string, name: string) =>
    `arn:${arn.partition}:iot:${arn.region}:${arn.accountId}:${kind}/${name}`;
  return [
    { action: 'iot:Connect', resource: iot('client', mqtt.clientId) },
    // The status and the will are retained.
    { action: 'iot:Publish', resource: iot('topic', topics.status) },
    { action: 'iot:RetainPublish', resource: iot('topic', topics.status) },
    { action: 'iot:Publish', resource: iot('topic', topics.responses) },
    { action: 'iot:Publish', resource: iot('topic', responseTopicFor(topics, `${topics.responses}/view-1`)) },
    { action: 'iot:Subscribe', resource: iot('topicfilter', topics.commands) },
    { action: 'iot:Receive', resource: iot('topic', topics.commands) },
    { action: 'iot:AssumeRoleWithCertificate', resource: roleAliasArn },
  ];
}
