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
  "x86_64-linux": "15463d48d009ae97809c21212834ff3f55611066dde06956cc5e338d480a9739",
  "aarch64-linux": "13ccecbcf7e531066a9a02d501dbc270bede38d7a3f89ae331ab527b480ca98d",
};
