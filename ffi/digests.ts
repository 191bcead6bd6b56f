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
  "x86_64-linux": "140e2302b289654f00c5e604cd416bcda1700ceca1be2140cbcf14784f992209",
  "aarch64-linux": "483b4ff27ecc5cf6d4b990fe0def3aa9eee0007e21f6047e59de9b6777a1d5f1",
};
