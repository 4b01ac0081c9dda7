#!/usr/bin/env node
/**
 * The `nspawn-kit` bin: sets up the heap of the long-running verbs (see
 * triggers/heap-tuning.ts), then loads the program. The program is imported
 * dynamically so that V8 setting applies before any of its modules is even
 * parsed (static imports are all loaded before the first line runs). The exit
 * code is main()'s (program.ts: the action's code, or exitCodeFor the error);
 * the process ends by itself once nothing is left to do.
 */
import { sanitizeProcessPath } from './host/tool-path.js';
import { tuneHeapFor } from './triggers/heap-tuning.js';

// No tool is ever looked up in the working directory (host/tool-path.ts).
sanitizeProcessPath();
tuneHeapFor(process.argv.slice(2));
const { main, reportError, wantsJson, exitCodeFor } = await import('./program.js');
main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // "nspawn-kit: …", or the {"event":"error",…} line under --json, like every error main() reports.
    reportError(err, wantsJson(process.argv.slice(2)));
    process.exitCode = exitCodeFor(err);
  },
);
