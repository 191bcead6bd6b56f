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
  "x86_64-linux": "c51488fa64f848afe9b47da226ca67a2aaa6908aa415939a790a5d76584ffec5",
  "aarch64-linux": "f0a0d562f9f8816813af583d376efd4607a14579946e1cbb44da7e89b4d85141",
};
