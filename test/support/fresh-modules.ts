import { vi } from 'vitest';

// Runs before each test file of a tier that shares its worker between files (`isolate: false`):
// the file gets fresh instances of the project's modules, configured by its own environment as
// they read it at import, while the packages in node_modules (the AWS SDK, dynalite, ws) stay
// loaded from the files before.
vi.resetModules();
