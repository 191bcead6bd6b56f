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
  "x86_64-linux": "79eccd1a4fb185becb2206e15fcac10440c62f1e1b344fe4ee235e99113827d8",
  "aarch64-linux": "517900013ad672a05d7c607038e1b9249ea33927de5191607e9b41cc2fe27fd7",
};
