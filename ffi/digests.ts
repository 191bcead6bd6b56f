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
  "x86_64-linux": "9674bc2e2875120ea09d964e7783e073ea145a619fbee659200a983b2cd66823",
  "aarch64-linux": "7df7a5f63300f15fc221dc990776e3484b66db8f2d8b33dc856e745fb8283e53",
};
