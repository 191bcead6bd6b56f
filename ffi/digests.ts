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
  "x86_64-linux": "e341d1ef67846d5836c35fe027cc8e15945d55fea9e903b3a20f681cdab85faa",
  "aarch64-linux": "5f63cb5d1a9be9d26fc65c23109c4c8a17f87c6b596ceba3c63691ca93a049a4"
};
