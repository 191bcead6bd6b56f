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
  "x86_64-linux": "cd43d5db5b5234c99e5e075e41286620cb836a126e8bea0190179f948f5af37e",
  "aarch64-linux": "55656fd1f6db87774f6c14aaa8b837ad5cf22ac419688b63c18d7ac47c41cc22",
};
