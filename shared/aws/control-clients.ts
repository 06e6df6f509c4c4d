import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { IoTClient } from '@aws-sdk/client-iot';
import { type AwsEnvironment, clientConfig } from './clients.ts';

/**
 * Control-plane clients (AWS IoT registry, CloudFormation) for operator commands such as `tributary
 * device provision`. Kept apart from createAwsClients so the Lambda bundles, which import that
 * factory, do not carry these SDKs (+180 KiB each). Same rules: lazily created, one per service.
 */
export interface ControlPlaneClients {
  iot(): IoTClient;
  cloudformation(): CloudFormationClient;
  destroy(): void;
}

export function createControlPlaneClients(env: AwsEnvironment): ControlPlaneClients {
  let iot: IoTClient | undefined;
  let cloudformation: CloudFormationClient | undefined;
  return {
    iot: () => {
      iot ??= new IoTClient(clientConfig(env, 'iot'));
      return iot;
    },
    cloudformation: () => {
      cloudformation ??= new CloudFormationClient(clientConfig(env, 'cloudformation'));
      return cloudformation;
    },
    destroy: () => {
      iot?.destroy();
      cloudformation?.destroy();
      iot = undefined;
      cloudformation = undefined;
    },
  };
}
