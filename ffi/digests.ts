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
  "x86_64-linux": "037b9c4992f95a156e6ff38e27036ff8e95dfc5f0186b212bb281c8db5bb09e0",
  "aarch64-linux": "779285030c43eaf52aaa9e3dd0842f1b18c691384c2f0983794b21f137f60423",
};
