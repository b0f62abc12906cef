import { afterAll } from 'vitest';
import { removeScratch } from '../support/cdk-stack';

// Runs before each infra test file: its CDK scratch folder goes when its tests end.
afterAll(removeScratch);
