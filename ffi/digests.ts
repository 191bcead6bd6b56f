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
  "x86_64-linux": "cfbe1de460ebcc2a7572d949a0caa54c7297f962e1149d286047235b34b1c224",
  "aarch64-linux": "2d0c0dd4f433fc59ae0c3609c542236a891e701958f51d0bc777c7bef32bdf36",
};
