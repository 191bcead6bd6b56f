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
  "x86_64-linux": "e709a5439b22010c094e2df675d754f1eb6ffc6419e2941da50f74555556fe45",
  "aarch64-linux": "f1f42aaae85603622edfe31e90f9729951dca0023b0cb0f79d11ebbeed88e02e",
};
