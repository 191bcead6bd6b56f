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
  "x86_64-linux": "167435620562eb22be112dbb45e3ce7b852f936781067f76e675f5c8357a0e65",
  "aarch64-linux": "942e99acaa59d092bf3d5ebdcac9ac5ba79d60ea16a50dc0304f6035ec46372a",
};
