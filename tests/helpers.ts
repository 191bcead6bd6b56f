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
  read: (fd: number, b: Uint8Array, n: bigint) => number | bigint;
  open: (path: Uint8Array, flags: number) => number;
  close: (fd: number) => number;
} | null = null;
const libc = () =>
  libcSyms ??= Deno.dlopen("libc.so.6", {
    pipe: { parameters: ["buffer"], result: "i32" },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    open: { parameters: ["buffer", "i32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
  }).symbols;

/** Fields of /proc/self/status in bytes (VmRSS, VmPin, ...), read through
 * libc: Deno asks --allow-all for /proc/self, the tests have --allow-ffi. */
export function procStatus(): Record<string, number> {
  const fd = libc().open(new TextEncoder().encode("/proc/self/status\0"), 0);
  if (fd < 0) throw new Error("open(/proc/self/status) failed");
  const buf = new Uint8Array(16384);
  let n = 0;
  try {
    for (let r; (r = Number(libc().read(fd, buf.subarray(n), BigInt(buf.length - n)))) > 0;) n += r;
  } finally {
    libc().close(fd);
  }
  const out: Record<string, number> = {};
  for (const m of new TextDecoder().decode(buf.subarray(0, n)).matchAll(/^(\w+):\s+(\d+) kB$/gm)) {
    out[m[1]] = Number(m[2]) * 1024;
  }
  return out;
}

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

/** A Deno.listen peer for one connection: it starts reading when
 * `start()` is called, and `got` is everything it read until end of stream
 * (or a reset). */
export function readingPeer(): { port: number; got: Promise<Uint8Array>; start: () => void } {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  const go = Promise.withResolvers<void>();
  const accepted = l.accept();
  const got = (async () => {
    const c = await accepted;
    l.close();
    await go.promise;
    const parts: Uint8Array[] = [];
    const b = new Uint8Array(256 * 1024);
    let total = 0;
    try {
      for (;;) {
        const n = await c.read(b);
        if (n === null) break;
        parts.push(b.slice(0, n));
        total += n;
      }
    } catch { /* reset by the other end */ }
    c.close();
    const all = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      all.set(p, off);
      off += p.length;
    }
    return all;
  })();
  return { port, got, start: () => go.resolve() };
}

/** A Worker answering one reply per message, and a way to talk to it. */
export class WorkerPeer {
  #w: Worker;
  #replies: ((m: Record<string, unknown>) => void)[] = [];
  #early: Record<string, unknown>[] = [];
  constructor(url: URL) {
    this.#w = new Worker(url, { type: "module" });
    this.#w.onmessage = (e) => {
      const r = this.#replies.shift();
      if (r) r(e.data);
      else this.#early.push(e.data);
    };
  }
  send(m: Record<string, unknown>): void {
    this.#w.postMessage(m);
  }
  /** The next reply as it came ({ error } included). */
  async reply(what: string, ms = 10_000): Promise<Record<string, unknown>> {
    return this.#early.shift() ??
      await within(new Promise<Record<string, unknown>>((r) => this.#replies.push(r)), ms, what);
  }
  /** The next reply (throws the Worker's error). */
  async next(what: string, ms = 10_000): Promise<Record<string, unknown>> {
    const m = await this.reply(what, ms);
    if ("error" in m) throw new Error(`worker (${what}): ${m.name ?? ""} ${m.error}`);
    return m;
  }
  async ask(m: Record<string, unknown>, what: string): Promise<Record<string, unknown>> {
    this.send(m);
    return await this.next(what);
  }
  terminate(): void {
    this.#w.terminate();
  }
}

/** Closes `pool` once no Worker has it attached (waits at most `ms`). */
export async function closeDetached(
  pool: { stats(): { attachedViews: number }; close(): void },
  ms = 2000,
): Promise<void> {
  for (const until = Date.now() + ms; pool.stats().attachedViews !== 0 && Date.now() < until;) {
    await new Promise((r) => setTimeout(r, 10));
  }
  pool.close();
}

/** A probe script's body, run in its own process: whatever it records in
 * `out` (or the error it throws) is printed as one JSON line, then the
 * Worker and the process end. */
export async function probeMain(
  peer: WorkerPeer,
  body: (out: Record<string, unknown>) => Promise<void>,
): Promise<never> {
  const out: Record<string, unknown> = {};
  try {
    await body(out);
  } catch (e) {
    out.error = String(e);
  } finally {
    peer.terminate();
  }
  console.log(JSON.stringify(out));
  Deno.exit(0);
}

/** Runs a probeMain script in a subprocess (killed after `ms`) and returns
 * what it printed; throws with its stderr when it did not exit 0. */
export async function runProbe<T = Record<string, unknown>>(
  path: string,
  ms = 60_000,
): Promise<T & { error?: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", "--allow-env", "--allow-read", path],
    stderr: "piped",
    signal: AbortSignal.timeout(ms),
  }).output();
  if (!out.success) {
    throw new Error(
      `${path}: exit ${out.code} signal ${out.signal}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}

/** A second copy of the package (the same sources under another URL, as
 * two versions or a JSR and a local import would be) in `dir`, sharing
 * this checkout's built library: the directory holding its mod.ts. */
export function packageCopy(dir: string): string {
  const copy = Deno.makeTempDirSync({ dir, prefix: ".tmp-copy-" });
  const root = new URL("..", import.meta.url).pathname;
  const copyTree = (from: string, to: string) => { // recursive: src/net/
    Deno.mkdirSync(to);
    for (const f of Deno.readDirSync(from)) {
      if (f.isFile) Deno.copyFileSync(`${from}/${f.name}`, `${to}/${f.name}`);
      else if (f.isDirectory) copyTree(`${from}/${f.name}`, `${to}/${f.name}`);
    }
  };
  for (const sub of ["src", "ffi"]) copyTree(`${root}/${sub}`, `${copy}/${sub}`);
  Deno.copyFileSync(`${root}/mod.ts`, `${copy}/mod.ts`);
  Deno.symlinkSync(`${root}/zig-out`, `${copy}/zig-out`);
  return copy;
}

/** Test files in a scratch directory beside the tests (O_DIRECT works
 * there, unlike tmpfs), removed when the test module unloads. */
export class Scratch {
  readonly dir = Deno.makeTempDirSync({
    dir: new URL(".", import.meta.url).pathname,
    prefix: ".tmp-",
  });
  #n = 0;
  constructor() {
    globalThis.addEventListener("unload", () => Deno.removeSync(this.dir, { recursive: true }));
  }
  /** A new path in the directory. */
  path(): string {
    return `${this.dir}/f${this.#n++}.bin`;
  }
  /** A file of `size` bytes where byte i is (i * 7 + seed) & 0xff. */
  patterned(size: number, seed: number): { path: string; data: Uint8Array } {
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i++) data[i] = (i * 7 + seed) & 0xff;
    const path = this.path();
    Deno.writeFileSync(path, data);
    return { path, data };
  }
}
