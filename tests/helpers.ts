/** Helpers shared by the tests (not part of the package). */
import { lib } from "../ffi/loader.ts";

/** Pools alive in this process, per the C core. */
export function livePools(): number {
  return lib().symbols.vb_live_pools();
}

/** Whether this process has CAP_IPC_LOCK (pinned memory not charged). */
export function hasIpcLock(): boolean {
  return lib().symbols.vb_has_ipc_lock() === 1;
}

/** mulberry32: a small seeded generator (uniform in [0, 1)), so a failing
 * randomized test can be replayed from its printed seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let libcSyms: {
  pipe: (fds: Int32Array) => number;
  write: (fd: number, b: Uint8Array, n: bigint) => number | bigint;
  close: (fd: number) => number;
} | null = null;
const libc = () =>
  libcSyms ??= Deno.dlopen("libc.so.6", {
    pipe: { parameters: ["buffer"], result: "i32" },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    close: { parameters: ["i32"], result: "i32" },
  }).symbols;

/** A pipe: [read end, write end]; closed at the end of the scope. A read
 * on it waits in the kernel until `put` writes. */
export function pipe(): { r: number; w: number; [Symbol.dispose](): void } {
  const fds = new Int32Array(2);
  if (libc().pipe(fds) !== 0) throw new Error("pipe(2) failed");
  return {
    r: fds[0],
    w: fds[1],
    [Symbol.dispose]() {
      libc().close(fds[0]);
      libc().close(fds[1]);
    },
  };
}

/** Writes `text` to `fd` whole (throws otherwise). */
export function put(fd: number, text: string): void {
  const b = new TextEncoder().encode(text);
  const n = Number(libc().write(fd, b, BigInt(b.length)));
  if (n !== b.length) throw new Error(`write(2) to fd ${fd}: ${n} of ${b.length} bytes`);
}

/** Rejects if `p` has not settled within `ms` (nothing may hang). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const t = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what}: not settled within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
