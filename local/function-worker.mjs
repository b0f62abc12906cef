// A function worker's entry point, plain JavaScript so it needs no loader itself: it registers
// tsx's module hooks for this thread (on Node 20 a worker inherits neither the main thread's
// hooks nor a working `--import tsx` from execArgv), then loads the container in TypeScript.
import { register } from 'tsx/esm/api';

register();
await import('./function-container.ts');
