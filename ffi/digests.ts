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
  "x86_64-linux": "2e4393cb1c4887743981e573ebcda9ce19798c8dac60b3069ba9e77c046670c6",
  "aarch64-linux": "6796d3b85d18e7975628ea520e2a717ac8cd3730960e394f03baa21ce9a8b828"
};
