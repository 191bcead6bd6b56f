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
  "x86_64-linux": "ee598267474fe5d89b9c058d05da939ee494fa6f9b1a7b2b051d3470f2a61947",
  "aarch64-linux": "b5967ab8b976c513f1e1ea9c2e591d87cb4eb34ab9dd2c4a7f1f574e4eb2ed70",
};
