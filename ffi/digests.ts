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
  "x86_64-linux": "874dc6139b9a162d61a22e9b7be53d2b1c4be5a362042f080ff5097693f2897b",
  "aarch64-linux": "03270849e1c7230908de98787117a7ebdd9f243084393ea5dbd753df8475d9bf",
};
