/**
 * Which prebuilt library fits this machine.
 *
 * @module
 */

/** The platforms a prebuilt libveloq_buffer exists for. */
export type Platform = "x86_64-linux" | "aarch64-linux";

/** Zig targets the release builds for each platform (glibc 2.28: Debian 10, RHEL 8 and newer). */
export const RELEASE_TARGETS: Record<Platform, string> = {
  "x86_64-linux": "x86_64-linux-gnu.2.28",
  "aarch64-linux": "aarch64-linux-gnu.2.28",
};

/** This machine's platform, or null when no prebuilt library fits it. */
export function currentPlatform(): Platform | null {
  const key = `${Deno.build.arch}-${Deno.build.os}`;
  return key in RELEASE_TARGETS ? key as Platform : null;
}

/** File name of the prebuilt library for a platform. */
export function libFileName(platform: Platform): string {
  return `libveloq_buffer-${platform}.so`;
}
