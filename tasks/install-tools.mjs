#!/usr/bin/env node
// Stage "install-tools" of the original recipe, alone. `npx zx tasks/install-tools.mjs --help`
import { argv } from 'zx';
import { runScript } from '../dist/tasks/script.js';
import { installTools } from '../dist/tasks/mirror-scripts.js';

process.exitCode = await runScript(installTools, argv);
