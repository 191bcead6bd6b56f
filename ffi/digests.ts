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
  "x86_64-linux": "3462dbc5503b9e05143a12367658e5e970572bc8a1ddcfaf1cbd1b5527f78278",
  "aarch64-linux": "457592855efa9b62d4714d67ddc597f52ef9449c0b9f5997e23b7f4b5de9a428",
};
