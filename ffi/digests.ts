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
  "x86_64-linux": "ad96d9c7fa5d96ca4eb901bdecb4cae86a0ecc2fd2123a648a117067ab0b334e",
  "aarch64-linux": "b80ae7626297f11e4dd28273036d64e3023af4e047a74d0c10254c2fbeeda3f7"
};
