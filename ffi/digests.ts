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
  "x86_64-linux": "ffe76edc9c167d6142913f730ac3609f8a0e1abb003cde24a5266c69fab819a7",
  "aarch64-linux": "6aa4d66a8bbd5c59a9e2fc382074a10606a894b71f996f09f513c262d5873164",
};
