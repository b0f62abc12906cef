import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/**
 * Cold-start baseline of the authorizer: a bare Secrets Manager client built at import (the
 * authorizer reads its HS256 secret with one). Bundled by CDK exactly like the real handlers.
 */
const secrets = new SecretsManagerClient({});

export async function handler(): Promise<string> {
  return typeof secrets.send;
}
