export { type DynamoDbOptions, startDynamoDb } from './dynamodb.ts';
export { type KinesisOptions, startKinesis } from './kinesis.ts';
export { findMoto, type MotoOptions, startMoto } from './moto.ts';
export { findMosquitto, type MqttOptions, type RunningMqtt, startMqtt } from './mqtt.ts';
export { freePort, type RunningServer } from './runtime.ts';
export { type S3Options, startS3 } from './s3.ts';
export { type SiteWiseOptions, type SiteWiseStandIn, startSiteWise } from './sitewise.ts';
