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
  "x86_64-linux": "00cd4bed80535777d2e3c9d05b81a6bddd819f9e1b4a6d74243fb6ec5bc8539e",
  "aarch64-linux": "614771dd98a301ffdd86a16974f9d993aa2bd7d8ae6410a747a72d69970ca885",
};
