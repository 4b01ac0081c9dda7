#!/usr/bin/env node
// Reindex once: import the given .debs (or directories of them; default: every
// configured archive and every machine archive) and publish the suites that
// changed, under the one mirror lock. For apt hooks, incron, or by hand.
// `--help` for the options (src/tasks/hooks.ts); exit 1 when a file was rejected.
import { argv } from 'zx';
import { runHook, reindexOnDeb } from '../dist/tasks/hooks.js';

process.exitCode = await runHook(reindexOnDeb, argv);
