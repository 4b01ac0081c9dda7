/** A Packages index in the real format (multi-line Description, MD5sum before SHA256, an epoch, stanzas missing a hash or a size). */
export const SHA_A = 'a'.repeat(64);
export const SHA_B = 'b'.repeat(64);

// Real-format stanzas: multi-line Description, Conffiles-like continuations, MD5sum before SHA256, an epoch.
export const PACKAGES = `Package: hello
Version: 2.10-3
Installed-Size: 280
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Depends: libc6 (>= 2.34)
Description: example package based on GNU hello
 The GNU hello program produces a familiar, friendly greeting.
 .
 SHA256: ${'c'.repeat(64)}
Homepage: https://www.gnu.org/software/hello/
Section: devel
Priority: optional
Filename: pool/main/h/hello/hello_2.10-3_amd64.deb
Size: 53084
MD5sum: 0123456789abcdef0123456789abcdef
SHA256: ${SHA_A}

Package: libfoo1
Source: foo (1.2-1)
Version: 1:1.2-1
Architecture: all
Filename: pool/main/f/foo/libfoo1_1.2-1_all.deb
Size: 1200
SHA256: ${SHA_B.toUpperCase()}

Package: nohash
Version: 1
Architecture: amd64
Size: 10
Filename: pool/main/n/nohash/nohash_1_amd64.deb

Package: nosize
Version: 1
Architecture: amd64
SHA256: ${SHA_A}
`;
