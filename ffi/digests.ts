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
  "x86_64-linux": "eb043c630fa4772d7025b3cb74a74f8b4acb8a9ad614a27db7fd99909b9d4367",
  "aarch64-linux": "9aeec193a6a18c5af0187bc3e43e69913f9b93956fce4286225e66dc915467ee",
};
