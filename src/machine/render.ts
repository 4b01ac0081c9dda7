/**
 * Pure renderers for small files of a container root and the quoting helpers
 * the other renderers share. No I/O here: strings in, strings out.
 */
import { OperationError } from '../errors.js';
import { hostname as fmtHostname } from '../config/formats.js';
import { assertSingleLine } from '../quote.js';

// The quoting helpers live in the bottom layer (quote.ts); re-exported for the renderers that import them from here.
export { assertSingleLine, shellQuote, systemdWord } from '../quote.js';

/** The host name checked again (RFC 1123) before it reaches /etc/hostname or /etc/hosts. */
function checkedHostname(name: string): string {
  const why = fmtHostname(name);
  if (why) throw new OperationError(`host name ${JSON.stringify(name)}: ${why}`, 'Fix "hostname" in the recipe.');
  return name;
}

/** /etc/hostname: the name alone, one line. */
export function renderHostname(hostname: string): string {
  return `${checkedHostname(hostname)}\n`;
}

/**
 * /etc/hosts as Debian's installer writes it: the host name on 127.0.1.1 so
 * it resolves without DNS (sudo, hostname -f) on a machine with no network.
 */
export function renderHosts(hostname: string): string {
  return [
    '127.0.0.1\tlocalhost',
    `127.0.1.1\t${checkedHostname(hostname)}`,
    '',
    '# The following lines are desirable for IPv6 capable hosts',
    '::1\t\tlocalhost ip6-localhost ip6-loopback',
    'ff02::1\t\tip6-allnodes',
    'ff02::2\t\tip6-allrouters',
    '',
  ].join('\n');
}

/** A deb822 stanza: one "Field: value" line each, optional comment lines first. */
export function renderStanza(fields: ReadonlyArray<readonly [string, string]>, comments: string[] = []): string {
  const lines = comments.map((c) => `# ${assertSingleLine(c, 'comment')}`);
  for (const [key, value] of fields) lines.push(`${key}: ${assertSingleLine(value, key)}`);
  return `${lines.join('\n')}\n`;
}
