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
  "x86_64-linux": "4d7f3d06a9f31b89054743021d11bc2ba64ae84679713db8bdc4427c41f4ce11",
  "aarch64-linux": "78e5d069f176b2bd8f0a54f6bc9246eb7b4236207c65ae29b38ddd0ce944e902",
};
