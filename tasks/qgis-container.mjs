#!/usr/bin/env node
// `npx zx tasks/qgis-container.mjs --help`: see README.md
import { argv } from 'zx';
import { runScript } from '../dist/tasks/script.js';
import { qgisContainer } from '../dist/tasks/container.js';

process.exitCode = await runScript(qgisContainer, argv);
