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
  "x86_64-linux": "3fce6610a180758f380b8a3c758d3dde18e7e18cf3036d9fe971d5548f21eba3",
  "aarch64-linux": "0b15fea214fdd39c1dfafc284af9de0c6e0d720d370ea9469895d5bf939c6b88",
};
