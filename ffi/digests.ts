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
  "x86_64-linux": "93ba44a958f9d27484f97809bf9b51e9521d9b1fac7f334189a48a3e7ffa2662",
  "aarch64-linux": "5aa6106e00e5d6bf25d831c04bb5561cdbfc4a26626bfc2a2c9f1fd66b445828",
};
