// Types of deb-version.mjs for the tests (test/unit/deb-version.test.ts).
export function debianVersion(npmVersion: string): string;
export function packageVersion(root?: string): string;
