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
  "x86_64-linux": "28d61a8f85451ada692dce02ca20219490450c3f6e806f70e6c406117a890915",
  "aarch64-linux": "379818455e76b26e6a0127a182f2b70ccadd8a500d9ae0161dd520a000d90fbe",
};
