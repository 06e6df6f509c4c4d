import { type CodeOf, errorCodes } from '../shared/error-codes.ts';
import { TributaryError } from '../shared/errors.ts';

/** Codes of the embedded local cloud's servers (`npm start`, the integration tests). */
export const LocalErrorCodes = errorCodes('local', {
  LOCAL_PORT_IN_USE: {
    class: 'PortInUseError',
    retryable: false,
    meaning: 'a port asked for explicitly is taken by another process',
  },
  LOCAL_JAVA_MISSING: {
    class: 'JavaMissingError',
    retryable: false,
    meaning: 'no usable java (17 or newer) for DynamoDB Local',
  },
  LOCAL_MOTO_MISSING: {
    class: 'MotoMissingError',
    retryable: false,
    meaning: "moto's server is not installed in the project venv",
  },
  LOCAL_CC_MISSING: {
    class: 'CompilerMissingError',
    retryable: false,
    meaning: 'no C compiler for the loopback shim of a server without a listen-host option',
  },
  LOCAL_SHIM_BUILD_FAILED: {
    class: 'ShimBuildError',
    retryable: false,
    meaning: 'the C compiler rejected the loopback shim',
  },
  DATA_DIR_FOREIGN: {
    class: 'ForeignDataDirError',
    retryable: false,
    meaning:
      'a data dir to empty (no --persist, or --fresh) that Tributary did not create; it is never deleted',
  },
  LOCAL_SERVER_START_FAILED: {
    class: 'ServerStartError',
    retryable: false,
    meaning: 'a local server exited or did not become ready; the message has the tail of its log',
  },
});
export type LocalErrorCode = CodeOf<typeof LocalErrorCodes>;

/** Base of every error the embedded local cloud (local/) raises on purpose; its submodules pass their codes as `C`. */
export class LocalCloudError<C extends string = LocalErrorCode> extends TributaryError<C> {}

/** A port asked for explicitly is already taken by another process. */
export class PortInUseError extends LocalCloudError {
  readonly port: number;
  readonly server: string;

  constructor(server: string, port: number, options: { cause?: unknown } = {}) {
    super(
      'LOCAL_PORT_IN_USE',
      `${server}: port ${port} on 127.0.0.1 is already in use; stop whatever listens there ` +
        `(see \`ss -ltnp 'sport = :${port}'\`) or choose another port (leave it unset to pick a free one)`,
      options,
    );
    this.port = port;
    this.server = server;
  }
}

/** No usable `java` (17 or newer) for DynamoDB Local. */
export class JavaMissingError extends LocalCloudError {
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super(
      'LOCAL_JAVA_MISSING',
      `DynamoDB Local needs Java 17+: install openjdk-17-jre-headless (or point JAVA_HOME at a JDK 17+); ${detail}`,
      options,
    );
  }
}

/** moto's server (PyPI moto[server]) is not installed in the project venv. */
export class MotoMissingError extends LocalCloudError {
  constructor(venv: string, options: { cause?: unknown } = {}) {
    super(
      'LOCAL_MOTO_MISSING',
      `no moto server in ${venv}: python3 -m venv .venv && .venv/bin/pip install -r scripts/cfn-lint-requirements.txt`,
      options,
    );
  }
}

/**
 * The loopback shim for a native server cannot be built because no C compiler is installed.
 * Setting TRIBUTARY_ALLOW_WILDCARD_BIND=1 skips the shim and lets the server listen on all interfaces.
 */
export class CompilerMissingError extends LocalCloudError {
  constructor(server: string, options: { cause?: unknown } = {}) {
    super(
      'LOCAL_CC_MISSING',
      `${server} has no listen-host option, so Tributary keeps it on 127.0.0.1 with a small LD_PRELOAD ` +
        'shim that needs a C compiler: install gcc (`apt-get install gcc`), or set ' +
        'TRIBUTARY_ALLOW_WILDCARD_BIND=1 to accept that it listens on all network interfaces',
      options,
    );
  }
}

/** The C compiler rejected the loopback shim; the compiler output says why. */
export class ShimBuildError extends LocalCloudError {
  constructor(compilerOutput: string, options: { cause?: unknown } = {}) {
    super(
      'LOCAL_SHIM_BUILD_FAILED',
      `building the loopback shim (local/servers/loopback-shim.c) failed; make sure \`cc -shared\` works ` +
        `(apt-get install gcc libc6-dev): ${compilerOutput.trim()}`,
      options,
    );
  }
}

/** A local server exited or did not become ready; carries the tail of its log. */
export class ServerStartError extends LocalCloudError {
  readonly server: string;
  readonly logFile: string | undefined;
  readonly logTail: string;

  constructor(
    server: string,
    reason: string,
    details: { logFile?: string; logTail?: string; cause?: unknown } = {},
  ) {
    const tail = details.logTail?.trim() ?? '';
    super(
      'LOCAL_SERVER_START_FAILED',
      `${server} did not start: ${reason}` +
        (details.logFile === undefined ? '' : `; full log: ${details.logFile}`) +
        (tail === '' ? '' : `\n--- last lines of its output ---\n${tail}`),
      details.cause === undefined ? {} : { cause: details.cause },
    );
    this.server = server;
    this.logFile = details.logFile;
    this.logTail = tail;
  }
}

/** A data dir to empty (no --persist, or --fresh) that Tributary did not create: never deleted. */
export class ForeignDataDirError extends LocalCloudError {
  readonly path: string;
  constructor(path: string) {
    super(
      'DATA_DIR_FOREIGN',
      `${path} holds files but no ${DATA_DIR_MARKER}: not a Tributary data dir, so it is not emptied; choose another --data-dir or an empty one`,
    );
    this.path = path;
  }
}

/** The file that marks a directory as a Tributary data dir, which a fresh start may empty. */
export const DATA_DIR_MARKER = '.tributary-data-dir';
