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
  "x86_64-linux": "73979f33aaf958a02df4034c35ccbda5fb441d4844c270afd923b8e362ac5d52",
  "aarch64-linux": "3f5eaf3f4f5f6b6626555e0bad92f4bffe8d90afe4b7e02cf0281e6df3795e45",
};
