export {
  type CreateOptions,
  createLocalResources,
  formatStatusLine,
  type LocalEndpoints,
  type ResourceStatus,
} from './create.ts';
export { LocalResourceError, StackDefinitionError, StackSyntaxError, StackVariableError } from './errors.ts';
export {
  type DeliveryStreamResource,
  type DynamoTableResource,
  type KinesisStreamResource,
  LOCAL_ACCOUNT_ID,
  type LoadStackOptions,
  loadStack,
  parseStack,
  type S3BucketResource,
  type SqsQueueResource,
  type StackDefinition,
  type StackResource,
  type StreamConsumerResource,
  stackResource,
} from './stack.ts';
