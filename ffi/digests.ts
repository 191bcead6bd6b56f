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
  "x86_64-linux": "d76ce8f8cd3ec46f1be781b8e0ecdb8d50f0511461141d0495a3da384d9df986",
  "aarch64-linux": "8f6ba6d22577422984d008c7ac2bc19d38e27a3342482bb6067a59ad4aabf01b",
};
