// A function worker's entry point, plain CommonJS so that it needs no loader itself. It
// registers tsx for require() in this thread only, then loads the container, which loads the
// handler module the same way. CommonJS hooks run in the thread that registers them; on Node 20
// ESM hooks (tsx's `register()`) would start a loader thread of their own in every worker, at
// about two thirds more memory and a slower cold start, and `--import tsx` in a worker's
// execArgv does not load TypeScript at all.
require('tsx/cjs/api').register();
require('./function-container.ts');
