'use strict';
// Loaded with `node --require` into Node-based local servers (kinesis-local, s3rver), which have no
// listen-host setting of their own. It does two things:
// 1. pins every TCP listen (net.Server and so http/https) to 127.0.0.1, so nothing is reachable
//    from other machines; Unix-socket and handle listens are left alone;
// 2. watches the launching process: when TRIBUTARY_PARENT_PID is set and this process gets
//    re-parented (the launcher died, even by SIGKILL), it terminates itself, so no orphan survives.
const net = require('node:net');

const HOST = '127.0.0.1';
const originalListen = net.Server.prototype.listen;

function isPort(value) {
  return typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value));
}

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const [first] = args;
  if (first !== null && typeof first === 'object' && !('_handle' in first) && !('fd' in first)) {
    if (first.path === undefined) args[0] = { ...first, host: HOST };
  } else if (isPort(first)) {
    if (typeof args[1] === 'string') args[1] = HOST;
    else args.splice(1, 0, HOST);
  } else if (first === undefined || typeof first === 'function') {
    args.splice(0, 0, 0, HOST);
  }
  return originalListen.apply(this, args);
};

const parentPid = Number(process.env.TRIBUTARY_PARENT_PID);
// Only this process watches; anything it spawns has a different parent.
delete process.env.TRIBUTARY_PARENT_PID;
if (Number.isInteger(parentPid) && parentPid > 0) {
  const check = () => {
    if (process.ppid !== parentPid) process.kill(process.pid, 'SIGTERM');
  };
  check();
  setInterval(check, 500).unref();
}
