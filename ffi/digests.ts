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
  "x86_64-linux": "ed85d8b70df492439cd8fb3db94a9ebc5e3fb8a023dc61d0305b789f6dedd5a8",
  "aarch64-linux": "f4d46d0097526061d54f6f57c9d42a2b6ea532b169ffef07e8494ddedb561a38",
};
