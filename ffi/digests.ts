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
  "x86_64-linux": "e69b3e113ad08a1b16475b4a1c8655d839d86c6ef415ddc18d835ea81ca4d5cf",
  "aarch64-linux": "b34104f388ade81ae07f10c1f771490e94c792d596fbff9c66487c630a278872",
};
