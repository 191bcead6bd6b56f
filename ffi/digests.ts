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
  "x86_64-linux": "006374d6ee9f07c4be85c273cbf21ff342c4603595eea4beaad8b0e1037243df",
  "aarch64-linux": "195a251339a544cfc72525c866d933b4a8fc8302fa6e077a2bfcf1d118ced9e0",
};
