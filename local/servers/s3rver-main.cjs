'use strict';
// Child-process entry for s3rver, run as `node --openssl-legacy-provider --require
// loopback-preload.cjs s3rver-main.cjs <dataDir> <port>`. A separate process because s3rver
// encrypts ListObjects continuation tokens with DES, which Node 20's OpenSSL 3 only offers with the
// legacy provider, and that flag cannot be switched on inside a running process.
const S3rver = require('s3rver');
const { DUMMY_ACCOUNT } = require('s3rver/lib/models/account');

const [directory, port] = process.argv.slice(2);
// The key pair of shared/aws/clients.ts; s3rver only knows S3RVER/S3RVER otherwise.
const [accessKeyId, secretAccessKey] = (process.env.TRIBUTARY_S3_KEY ?? 'local:local').split(':');
DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);

new S3rver({ address: '127.0.0.1', port: Number(port), directory, silent: true })
  .run()
  .then(({ address, port: bound }) => console.log(`s3rver listening on ${address}:${bound}`))
  .catch((error) => {
    console.error(error);
    process.exit(1);
  });
