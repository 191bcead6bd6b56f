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
  "x86_64-linux": "57530c6cd4c8e9e1a3eb900c7aaa46a02777caad13f35336eeea3ca238d5eba7",
  "aarch64-linux": "57bfcd5f637bc2035107a9ea49b4da62feab4f371a81240a32db082f133e671f",
};
