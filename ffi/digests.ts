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
  "x86_64-linux": "c8f4b4887d6a1010eacfaaa36df2e468927ee698afff647b4162083bb200332c",
  "aarch64-linux": "748d35c50f0b91e2ee29e03dd11eea0e3550010f1112bd945417e01d8af000e8",
};
