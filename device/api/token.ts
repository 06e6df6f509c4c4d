/**
 * The API's bearer token: generated at the agent's first start into a file only its user can read
 * (the agent's state directory, `<storeRoot>/api-token` unless configured), found there by the CLI.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigFileError, TokenFileInsecureError } from '../errors.ts';

/** 32 random bytes, base64url: 256 bits, safe in a header and a shell. */
const TOKEN_BYTES = 32;
const OWNER_ONLY = 0o600;

/** Reads the token file (surrounding whitespace trimmed); an unreadable or empty file is a config error. */
export async function loadAuthToken(file: string): Promise<string> {
  let token: string;
  try {
    token = (await readFile(file, 'utf8')).trim();
  } catch (error) {
    const hint =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? ' (the agent writes it at its first start)' : '';
    throw new ConfigFileError(
      file,
      'api.authTokenFile',
      file,
      `cannot be read: ${(error as Error).message}${hint}`,
      {
        cause: error,
      },
    );
  }
  if (token === '') throw new ConfigFileError(file, 'api.authTokenFile', file, 'is empty');
  return token;
}

/**
 * The agent's token: read from `file`, or generated into it (mode 0600) when it does not exist. A file
 * that group or others may read is refused with TokenFileInsecureError.
 */
export async function ensureAuthToken(file: string): Promise<string> {
  await mkdir(dirname(file), { recursive: true });
  try {
    // 'wx': never overwrite a token another start (or the user) wrote meanwhile.
    const handle = await open(file, 'wx', OWNER_ONLY);
    try {
      await handle.writeFile(`${randomBytes(TOKEN_BYTES).toString('base64url')}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new ConfigFileError(
        file,
        'api.authTokenFile',
        file,
        `cannot be created: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }
  const { mode } = await stat(file);
  if ((mode & 0o077) !== 0) throw new TokenFileInsecureError(file, mode);
  return loadAuthToken(file);
}
