#!/usr/bin/env node
// Stage "cache-warming" of the original recipe, alone; `--help` for its options (src/tasks/).
import { argv } from 'zx';
import { runScript } from '../dist/tasks/script.js';
import { cacheWarming } from '../dist/tasks/mirror-scripts.js';

process.exitCode = await runScript(cacheWarming, argv);
