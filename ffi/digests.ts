/**
 * SHA-256 of the prebuilt libraries of this version, written by
 * `deno task release` (scripts/release.ts). The loader refuses a download
 * whose digest differs.
 *
 * @module
 */
import type { Platform } from "./platform.ts";

/** The package version these libraries belong to. */
export const LIB_VERSION = "0.1.0";

/** SHA-256 (hex) of lib/libveloq_buffer-<platform>.so. */
export const LIB_DIGESTS: Partial<Record<Platform, string>> = {
  "x86_64-linux": "d6e9f3b167d646287c96164fe6f12b6df9f96dd7a7d00fd75c3a1915995d7bad",
  "aarch64-linux": "457950551caa17e471b78d8ab427fd090d4bf84f2751bd85a544fe4a208ac85a",
};
