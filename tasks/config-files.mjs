#!/usr/bin/env node
// Stage "config-files" of the original recipe, alone; `--help` for its options (src/tasks/).
import { argv } from 'zx';
import { runScript } from '../dist/tasks/script.js';
import { configFiles } from '../dist/tasks/mirror-scripts.js';

process.exitCode = await runScript(configFiles, argv);
