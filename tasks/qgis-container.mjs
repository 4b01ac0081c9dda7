#!/usr/bin/env node
// Task script; `--help` for what it does and its options (src/tasks/). See README.md.
import { argv } from 'zx';
import { runScript } from '../dist/tasks/script.js';
import { qgisContainer } from '../dist/tasks/container.js';

process.exitCode = await runScript(qgisContainer, argv);
