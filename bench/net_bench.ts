/**
 * deno task bench:net — the Ring's network I/O beside Deno's own, on
 * loopback, server and load generator pinned to different cores:
 *
 *  - HTTP: `wrk -t1 -cN -dDs --latency` against examples/http_server.ts
 *    (Ring), the same keep-alive fixed-response server on Deno.listen
 *    (bench/net/deno_tcp.ts, as Deno's cli/bench/http/deno_tcp.ts) and
 *    Deno.serve hello world, at 1, 16 and 64 connections: requests/s, p99;
 *    and the C floor, the same server on liburing with no JS
 *    (bench/net/http_floor.c): what any io_uring server of this shape
 *    reaches here. wrk's own CPU share shows when the load generator, not
 *    the server, is the limit.
 *  - Bulk echo: bench/net/echo_client.c (one C client for every server)
 *    sends 64 KiB blocks and reads the echo back, against
 *    examples/echo_server.ts (64 KiB provided blocks; also with SEND_ZC,
 *    measured, not claimed: loopback copies anyway) and bench/net/echo_deno.ts;
 *    the echo ceiling is bench/net/echo_floor.c (a blocking recv/send loop
 *    in C: every echo server copies each byte in and out on its core), with
 *    iperf3 on loopback (one direction: each core copies each byte once) as
 *    the reference the issue named.
 *
 * Rounds interleave the servers (order rotated each round); the stored
 * JSON keeps every run; bench/report_net.ts makes the table (medians,
 * min-max, medians of per-round ratios). Run it under the bench lock on a
 * shared machine: `flock /tmp/veloq-bench.lock deno task bench:net`.
 *
 *   deno task bench:net [--duration 5] [--rounds 3] [--bulk-mib 512] [--quick] [--json PATH]
 *
 * @module
 */

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const argv = Deno.args;
const opt = (name: string, fallback: number) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const QUICK = argv.includes("--quick");
const DURATION = opt("--duration", QUICK ? 2 : 5);
const ROUNDS = opt("--rounds", QUICK ? 1 : 3);
const BULK_MIB = opt("--bulk-mib", QUICK ? 128 : 512);
const jsonIdx = argv.indexOf("--json");
const JSON_PATH = jsonIdx >= 0 ? argv[jsonIdx + 1] : `${ROOT}/bench/results/net_bench.json`;
const CONNS = [1, 16, 64];
const SERVER_CPU = "0";
const CLIENT_CPU = "1";

/** Runs a command to completion; its stdout (throws on failure). */
async function output(cmd: string, args: string[]): Promise<string> {
  const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(o.stdout);
  if (!o.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(o.stderr)}`);
  }
  return text;
}

async function have(cmd: string): Promise<boolean> {
  try {
    await output("sh", ["-c", `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

/** A server process pinned to the server core; resolves once it printed
 * "... on 127.0.0.1:PORT". */
interface Server {
  name: string;
  port: number;
  child: Deno.ChildProcess;
}

/** `args` runs with `deno run`, `bin` is a program of its own (a C floor). */
async function startServer(
  name: string,
  args: string[],
  bin?: string,
): Promise<Server> {
  const command = bin !== undefined ? [bin, ...args] : [Deno.execPath(), "run", ...args];
  const child = new Deno.Command("taskset", {
    args: ["-c", SERVER_CPU, ...command],
    stdout: "piped",
    stderr: "inherit",
    cwd: ROOT,
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += value;
    const m = /on (?:127\.0\.0\.1|\[?::1\]?):(\d+)/.exec(seen);
    if (m) {
      // Keep draining stdout so the server never blocks on a full pipe.
      (async () => {
        try {
          while (!(await reader.read()).done) { /* drain */ }
        } catch { /* closed */ }
      })();
      return { name, port: Number(m[1]), child };
    }
  }
  child.kill("SIGKILL");
  throw new Error(`${name} did not start: ${seen}`);
}

async function stop(s: Server): Promise<void> {
  try {
    s.child.kill("SIGTERM");
  } catch { /* gone */ }
  await s.child.status;
}

/** CPU time (user, kernel) a process used so far, in seconds (all its
 * threads; /proc/PID/stat utime and stime, clock ticks of 1/100 s). Read
 * with cat: Deno wants --allow-all for another process's /proc entry. */
async function cpuSeconds(pid: number): Promise<{ user: number; sys: number }> {
  try {
    const stat = await output("cat", [`/proc/${pid}/stat`]);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { user: Number(f[11]) / 100, sys: Number(f[12]) / 100 };
  } catch {
    return { user: NaN, sys: NaN };
  }
}

/** One wrk run: requests/s and p99 latency in ms, and the server's CPU
 * time per request (user and kernel, microseconds) and busy share of its
 * core during the run. */
async function wrkServer(s: Server, conns: number, seconds: number) {
  const before = await cpuSeconds(s.child.pid);
  const t0 = performance.now();
  const r = await wrk(s.port, conns, seconds);
  const wall = (performance.now() - t0) / 1000;
  const after = await cpuSeconds(s.child.pid);
  const requests = r.rps * seconds;
  return {
    ...r,
    userUsPerReq: ((after.user - before.user) * 1e6) / requests,
    sysUsPerReq: ((after.sys - before.sys) * 1e6) / requests,
    cpuBusy: (after.user - before.user + after.sys - before.sys) / wall,
  };
}

/** One wrk run: requests/s and p99 latency in ms, and wrk's busy share of
 * its core (bash's `times`: the CPU its child used, over the run). */
async function wrk(port: number, conns: number, seconds: number) {
  const t0 = performance.now();
  const text = await output("taskset", [
    "-c",
    CLIENT_CPU,
    "bash",
    "-c",
    'wrk "$@"; times',
    "wrk",
    "-t1",
    `-c${conns}`,
    `-d${seconds}s`,
    "--latency",
    `http://127.0.0.1:${port}/`,
  ]);
  const wall = (performance.now() - t0) / 1000;
  // `times` prints the shell's own times, then its children's: "0m1.234s 0m0.567s".
  const child = text.trim().split("\n").at(-1)!.match(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/);
  const clientBusy = child
    ? (Number(child[1]) * 60 + Number(child[2]) + Number(child[3]) * 60 + Number(child[4])) / wall
    : NaN;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const p99m = /\s99%\s+([\d.]+)(us|ms|s)/.exec(text);
  const unit = { us: 1e-3, ms: 1, s: 1e3 }[p99m?.[2] ?? "ms"]!;
  const p99 = p99m ? Number(p99m[1]) * unit : NaN;
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(text)?.[0] ?? null;
  return { rps, p99Ms: p99, errors, clientBusy };
}

async function echoClient(bin: string, port: number, mib: number): Promise<number> {
  const text = await output("taskset", ["-c", CLIENT_CPU, bin, String(port), String(mib)]);
  return JSON.parse(text).mibPerSec;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function iperf(seconds: number): Promise<number> {
  const port = freePort();
  const srv = new Deno.Command("taskset", {
    args: ["-c", SERVER_CPU, "iperf3", "-s", "-1", "-p", String(port)],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await new Promise((r) => setTimeout(r, 300));
  try {
    const text = await output("taskset", [
      "-c",
      CLIENT_CPU,
      "iperf3",
      "-c",
      "127.0.0.1",
      "-p",
      String(port),
      "-t",
      String(seconds),
      "-l",
      "64K",
      "-J",
    ]);
    return JSON.parse(text).end.sum_received.bits_per_second / 8 / 2 ** 20;
  } finally {
    try {
      srv.kill("SIGKILL");
    } catch { /* ended */ }
    await srv.status;
  }
}

async function machine() {
  const cpu = (await output("cat", ["/proc/cpuinfo"])).match(/model name\s*:\s*(.*)/)?.[1] ??
    "unknown";
  const kernel = (await output("uname", ["-r"])).trim();
  const commit = (await output("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"])).trim();
  const dirty = (await output("git", ["-C", ROOT, "status", "--porcelain"])).trim() !== "";
  const wrkVersion = (await output("sh", ["-c", "wrk -v 2>&1 | head -1 || true"])).trim();
  const iperfVersion = (await output("iperf3", ["--version"])).split("\n")[0].trim();
  return {
    cpu,
    cpus: navigator.hardwareConcurrency,
    kernel,
    deno: Deno.version.deno,
    commit,
    dirty,
    wrk: wrkVersion,
    iperf3: iperfVersion,
    loadavg: (await output("cat", ["/proc/loadavg"])).trim(),
  };
}

const rotate = <T>(xs: T[], k: number) => xs.map((_, i) => xs[(i + k) % xs.length]);

async function main(): Promise<void> {
  for (const tool of ["wrk", "iperf3", "taskset"]) {
    if (!(await have(tool))) {
      throw new Error(`${tool} is missing: apt-get install wrk iperf3 util-linux (./dev setup)`);
    }
  }
  const tmp = await Deno.makeTempDir({ prefix: "veloq-net-bench-" });
  const cc = (name: string, ...libs: string[]) =>
    output("python3", [
      "-m",
      "ziglang",
      "cc",
      "-O2",
      "-pthread",
      "-o",
      `${tmp}/${name}`,
      `${ROOT}/bench/net/${name}.c`,
      ...libs,
    ]).then(() => `${tmp}/${name}`);
  const client = await cc("echo_client");
  const httpFloor = await cc("http_floor", "-luring");
  const echoFloor = await cc("echo_floor");
  const ffi = ["--allow-ffi", "--allow-env", "--allow-read"];
  const httpServers: { name: string; args: string[]; bin?: string }[] = [
    { name: "ring", args: [...ffi, "examples/http_server.ts", "127.0.0.1:0"] },
    { name: "deno_listen", args: ["--allow-net", "bench/net/deno_tcp.ts", "0"] },
    { name: "deno_serve", args: ["--allow-net", "bench/net/deno_serve.ts", "0"] },
    { name: "c_floor", args: ["0"], bin: httpFloor },
  ];
  const bulkServers: { name: string; args: string[]; bin?: string }[] = [
    { name: "ring", args: [...ffi, "examples/echo_server.ts", "127.0.0.1:0", "--block", "65536"] },
    {
      name: "ring_zero_copy",
      args: [...ffi, "examples/echo_server.ts", "127.0.0.1:0", "--block", "65536", "--zero-copy"],
    },
    { name: "deno_listen", args: ["--allow-net", "bench/net/echo_deno.ts", "0"] },
    { name: "c_floor", args: ["0"], bin: echoFloor },
  ];
  const started = new Date().toISOString();
  const m = await machine();
  const http: {
    server: string;
    conns: number;
    round: number;
    rps: number;
    p99Ms: number;
    userUsPerReq: number;
    sysUsPerReq: number;
    cpuBusy: number;
    clientBusy: number;
  }[] = [];
  const bulk: { server: string; round: number; mibPerSec: number }[] = [];
  const running: Server[] = [];
  try {
    for (const s of httpServers) running.push(await startServer(s.name, s.args, s.bin));
    for (const s of running) await wrk(s.port, 16, 1); // warm up (JIT)
    for (let round = 0; round < ROUNDS; round++) {
      for (const conns of CONNS) {
        for (const s of rotate(running, round)) {
          const r = await wrkServer(s, conns, DURATION);
          if (r.errors) console.error(`${s.name} c${conns}: ${r.errors}`);
          const { userUsPerReq, sysUsPerReq, cpuBusy } = r;
          http.push({
            server: s.name,
            conns,
            round,
            rps: r.rps,
            p99Ms: r.p99Ms,
            userUsPerReq,
            sysUsPerReq,
            cpuBusy,
            clientBusy: r.clientBusy,
          });
          console.error(
            `http round ${round} c${conns} ${s.name}: ${r.rps.toFixed(0)} req/s, p99 ${
              r.p99Ms.toFixed(2)
            } ms, server CPU ${userUsPerReq.toFixed(1)} us user + ${
              sysUsPerReq.toFixed(1)
            } us kernel per request, busy ${(cpuBusy * 100).toFixed(0)}%, wrk busy ${
              (r.clientBusy * 100).toFixed(0)
            }%`,
          );
        }
      }
    }
  } finally {
    for (const s of running.splice(0)) await stop(s);
  }
  try {
    for (const s of bulkServers) running.push(await startServer(s.name, s.args, s.bin));
    for (const s of running) await echoClient(client, s.port, 64); // warm up
    for (let round = 0; round < ROUNDS; round++) {
      const order = [...rotate(running, round).map((s) => s.name), "iperf3"];
      if (round % 2 === 1) order.reverse();
      for (const name of order) {
        const mibPerSec = name === "iperf3"
          ? await iperf(Math.max(2, Math.round(DURATION / 2)))
          : await echoClient(client, running.find((s) => s.name === name)!.port, BULK_MIB);
        bulk.push({ server: name, round, mibPerSec });
        console.error(`bulk round ${round} ${name}: ${mibPerSec.toFixed(0)} MiB/s`);
      }
    }
  } finally {
    for (const s of running.splice(0)) await stop(s);
    await Deno.remove(tmp, { recursive: true });
  }
  const stored = {
    date: started,
    machine: { ...m, loadavgAfter: (await output("cat", ["/proc/loadavg"])).trim() },
    command: `deno task bench:net ${
      argv.filter((a, i) => a !== "--json" && argv[i - 1] !== "--json").join(" ")
    }`.trim(),
    shared: "the machine was shared with other engineers' work while measuring (2 cores)",
    duration: DURATION,
    rounds: ROUNDS,
    bulkMib: BULK_MIB,
    pinning: { server: SERVER_CPU, client: CLIENT_CPU },
    http,
    bulk,
  };
  await Deno.mkdir(JSON_PATH.replace(/\/[^/]*$/, ""), { recursive: true });
  await Deno.writeTextFile(JSON_PATH, JSON.stringify(stored, null, 2) + "\n");
  const { netSection } = await import("./report_net.ts");
  console.log(netSection(JSON_PATH));
}

if (import.meta.main) await main();
