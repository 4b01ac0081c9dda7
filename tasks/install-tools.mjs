#!/usr/bin/env node
// Stage "install-tools" of the original recipe, alone; `--help` for its options (src/tasks/).
import { argv } from 'zx';
import { runScript } from '../dist/tasks/script.js';
import { installTools } from '../dist/tasks/mirror-scripts.js';

process.exitCode = await runScript(installTools, argv);
