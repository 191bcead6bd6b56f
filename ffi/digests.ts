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
  "x86_64-linux": "a0dd029e957c9516ad242f101e4d210083c12902ca18a77656531f5b038a4f36",
  "aarch64-linux": "3397b7b29303133d41f8181e08e4a5c3dd2e357b24694e01f6d02cbb0de3e787",
};
