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
  "x86_64-linux": "3a85796b2beb176f5e38f7186d6160d946527ea185e32929985fd41b1a9fc03f",
  "aarch64-linux": "8a90a39d0619c7b30276dc9735eaab7fb28c9f805b8e6713196cc5c4b37cf39d",
};
