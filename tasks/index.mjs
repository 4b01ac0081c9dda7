#!/usr/bin/env node
// Stage "index" of the original recipe, alone; `--help` for its options (src/tasks/).
import { argv } from 'zx';
import { runScript } from '../dist/tasks/script.js';
import { index } from '../dist/tasks/mirror-scripts.js';

process.exitCode = await runScript(index, argv);
