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
  "x86_64-linux": "39c9e12b1c70a65afb4948431be15b2c8497337f550fbc278507466a8051bf78",
  "aarch64-linux": "ca55fbdd45159b21dd31c8b011bbbc52b161b1c18e4b721ad1b170cad5b6aaff",
};
