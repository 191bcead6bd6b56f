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
  "x86_64-linux": "054f68c6ca6301f2b69b7b8a67f6b0c346d4b6aa7691f267ff936a18b9b40caa",
  "aarch64-linux": "b952be998d81faa3a1718dacb5d7b1b44794bb8990ce539b608cafe03855089e",
};
