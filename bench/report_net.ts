/**
 * The network section of the bench report, from bench/results/net_bench.json
 * (written by `deno task bench:net`). bench/report.ts puts it in the README
 * with one call: `netSection(path)`.
 *
 * @module
 */

interface NetStored {
  date: string;
  machine: {
    cpu: string;
    cpus: number;
    kernel: string;
    deno: string;
    commit: string;
    dirty: boolean;
    loadavg: string;
    loadavgAfter?: string;
    wrk: string;
    iperf3: string;
  };
  command: string;
  shared: string;
  duration: number;
  rounds: number;
  bulkMib: number;
  pinning: { server: string; client: string };
  http: {
    server: string;
    conns: number;
    round: number;
    rps: number;
    p99Ms: number;
    /** Server CPU per request (us) and busy share of its core (runs since 2026-12-01 23:55). */
    userUsPerReq?: number;
    sysUsPerReq?: number;
    cpuBusy?: number;
    /** wrk's busy share of its core (runs since 2026-12-02 05:15). */
    clientBusy?: number;
  }[];
  bulk: { server: string; round: number; mibPerSec: number }[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

/** "median (min-max)" of xs with `f` formatting each. */
function spread(xs: number[], f: (x: number) => string): string {
  if (xs.length === 0) return "—";
  if (xs.length === 1) return f(xs[0]);
  return `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`;
}

const k = (x: number) => x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0);
const ms = (x: number) => x.toFixed(2);
const ratio = (x: number) => `${x.toFixed(2)}×`;

/** Per-round ratios a/b (same round, same connections). */
function ratios<T extends { round: number }>(
  a: T[],
  b: T[],
  v: (t: T) => number,
): number[] {
  const out: number[] = [];
  for (const x of a) {
    const y = b.find((t) => t.round === x.round);
    if (y && v(y) > 0) out.push(v(x) / v(y));
  }
  return out;
}

function verdict(got: number, goal: number, what: string): string {
  if (!Number.isFinite(got)) return `${what}: not measured`;
  return got >= goal
    ? `${what}: **met** (${got.toFixed(2)} ≥ ${goal})`
    : `${what}: **missed** (${got.toFixed(2)} < ${goal}, by ${
      ((1 - got / goal) * 100).toFixed(0)
    }%)`;
}

/** The markdown section (a "not run" note when the file is missing). */
export function netSection(path: string): string {
  let s: NetStored;
  try {
    s = JSON.parse(Deno.readTextFileSync(path));
  } catch {
    return "### Network: Ring sockets beside Deno\n\nNot run (no net_bench.json): `deno task bench:net`.\n";
  }
  const out: string[] = ["### Network: Ring sockets beside Deno", ""];
  out.push(
    `\`deno task bench:net\` (${
      s.date.slice(0, 16).replace("T", " ")
    } UTC, ${s.machine.cpu}, ${s.machine.cpus} cores, Linux ${s.machine.kernel}, Deno ${s.machine.deno}, commit ${s.machine.commit}${
      s.machine.dirty ? "+changes" : ""
    }). ` +
      `Server pinned to CPU ${s.pinning.server}, load generator to CPU ${s.pinning.client} (taskset); ` +
      `${s.rounds} interleaved rounds of ${s.duration} s per cell; median (min–max). ` +
      `**${s.shared}** (load average ${s.machine.loadavg} before, ${
        s.machine.loadavgAfter ?? "?"
      } after), so the spread is wide.`,
    "",
    "HTTP keep-alive fixed response (`wrk -t1 -cN --latency`): the Ring server is `examples/http_server.ts`, " +
      "`Deno.listen` is the same protocol on `conn.read`/`conn.write` (as Deno's `cli/bench/http/deno_tcp.ts`), " +
      "`Deno.serve` is hello world; the C floor is the same server as the Ring one written straight on " +
      "liburing with no JS (`bench/net/http_floor.c`: multishot accept, one multishot recv per connection " +
      "into a provided buffer ring, one send per request): what any io_uring server of this shape reaches here.",
    "",
    "| connections | server | requests/s | p99 latency (ms) | Ring ÷ this (per-round median) |",
    "|---:|---|---:|---:|---:|",
  );
  const names: Record<string, string> = {
    ring: "Ring",
    deno_listen: "Deno.listen",
    deno_serve: "Deno.serve",
    ring_zero_copy: "Ring, SEND_ZC (not claimed)",
    iperf3: "iperf3 (one direction)",
    c_floor: "C floor (no JS)",
  };
  const servers = ["ring", "deno_listen", "deno_serve", "c_floor"];
  let at64Listen = NaN, at64Serve = NaN, at64Floor = NaN, floorVsListen = NaN;
  for (const conns of [...new Set(s.http.map((h) => h.conns))].sort((a, b) => a - b)) {
    const rows = s.http.filter((h) => h.conns === conns);
    const ring = rows.filter((h) => h.server === "ring");
    for (const server of servers) {
      const mine = rows.filter((h) => h.server === server);
      if (mine.length === 0) continue;
      const r = server === "ring" ? "1" : spread(ratios(ring, mine, (h) => h.rps), ratio);
      if (conns === 64 && server === "deno_listen") {
        at64Listen = median(ratios(ring, mine, (h) => h.rps));
      }
      if (conns === 64 && server === "deno_serve") {
        at64Serve = median(ratios(ring, mine, (h) => h.rps));
      }
      if (conns === 64 && server === "c_floor") {
        at64Floor = median(ratios(ring, mine, (h) => h.rps));
        floorVsListen = median(
          ratios(mine, rows.filter((h) => h.server === "deno_listen"), (h) => h.rps),
        );
      }
      out.push(
        `| ${conns} | ${names[server]} | ${spread(mine.map((h) => h.rps), k)} | ${
          spread(mine.map((h) => h.p99Ms), ms)
        } | ${r} |`,
      );
    }
  }
  out.push("");
  const cpu64 = servers.map((server) => {
    const mine = s.http.filter((h) =>
      h.conns === 64 && h.server === server && Number.isFinite(h.userUsPerReq) &&
      Number.isFinite(h.sysUsPerReq) && Number.isFinite(h.cpuBusy)
    );
    if (mine.length === 0) return null;
    const f = (x: number) => x.toFixed(1);
    const pct = (x: number) => x.toFixed(0);
    const client = mine.filter((h) => Number.isFinite(h.clientBusy));
    return `${names[server]} ${spread(mine.map((h) => h.userUsPerReq!), f)} µs user + ${
      spread(mine.map((h) => h.sysUsPerReq!), f)
    } µs kernel, core busy ${spread(mine.map((h) => h.cpuBusy! * 100), pct)}%${
      client.length > 0
        ? `, wrk's core busy ${spread(client.map((h) => h.clientBusy! * 100), pct)}%`
        : ""
    }`;
  }).filter((x) => x !== null);
  if (cpu64.length > 0) {
    out.push(
      "Server CPU per request at 64 connections (`/proc/PID/stat` utime/stime over each run, all " +
        "threads; the kernel share includes the loopback TCP work done in the server's context): " +
        cpu64.join("; ") + ".",
      "",
    );
  }
  const ringBulk = s.bulk.filter((b) => b.server === "ring");
  const ceiling = s.bulk.filter((b) => b.server === "iperf3");
  const echoFloor = s.bulk.filter((b) => b.server === "c_floor");
  out.push(
    `Bulk echo: \`bench/net/echo_client.c\` (the same C client for every server) sends ${s.bulkMib} MiB in 64 KiB blocks on one connection and reads the echo back; MiB/s = bytes that made the round trip per second. ` +
      "The Ring server receives into 64 KiB provided blocks and writes each one back. The C floor " +
      "(`bench/net/echo_floor.c`) is a blocking recv/send loop in C with the same client: the echo ceiling, " +
      "since every echo server copies each byte in and again out on its one core. iperf3 moves data one way " +
      "(each core copies each byte once), so no echo server can come near it: it is shown as the issue named it.",
    "",
    "| server | MiB/s | Ring ÷ this (per-round median) |",
    "|---|---:|---:|",
  );
  for (const server of ["ring", "ring_zero_copy", "deno_listen", "c_floor", "iperf3"]) {
    const mine = s.bulk.filter((b) => b.server === server);
    if (mine.length === 0) continue;
    out.push(
      `| ${names[server]} | ${spread(mine.map((b) => b.mibPerSec), (x) => x.toFixed(0))} | ${
        server === "ring" ? "1" : spread(ratios(ringBulk, mine, (b) => b.mibPerSec), ratio)
      } |`,
    );
  }
  const bulkVsListen = median(
    ratios(ringBulk, s.bulk.filter((b) => b.server === "deno_listen"), (b) => b.mibPerSec),
  );
  const bulkVsCeiling = median(ratios(ringBulk, ceiling, (b) => b.mibPerSec));
  const bulkVsFloor = median(ratios(ringBulk, echoFloor, (b) => b.mibPerSec));
  const floorVsIperf = median(ratios(echoFloor, ceiling, (b) => b.mibPerSec));
  const fmt = (x: number) => Number.isFinite(x) ? ratio(x) : "—";
  out.push(
    "",
    "Goals (issue 16): " +
      [
        verdict(at64Listen, 1.5, "requests/s at 64 connections ≥ 1.5× Deno.listen"),
        verdict(at64Serve, 1.0, "ahead of Deno.serve at 64 connections"),
        verdict(bulkVsCeiling, 0.9, "bulk echo ≥ 90% of iperf3 one-way (as the issue named it)"),
        verdict(bulkVsFloor, 0.9, "bulk echo ≥ 90% of the C echo floor (the echo ceiling)"),
      ].join("; ") +
      `. Bulk echo beside Deno.listen: ${fmt(bulkVsListen)}; beside the C echo floor ${
        fmt(bulkVsFloor)
      } (the floor itself makes ${fmt(floorVsIperf)} of iperf3's one-way rate). ` +
      `The C HTTP floor makes ${
        fmt(floorVsListen)
      } of Deno.listen's requests/s at 64 connections ` +
      `and the Ring server ${
        fmt(at64Floor)
      } of the floor's. No JS on top can beat the floor, so a goal above the floor's own ratio is out of ` +
      "reach here; where wrk's core is near 100% busy (above), the one load-generator core is the limit. " +
      "Zero-copy send is measured only: on loopback the kernel copies anyway, so it cannot win there and is not claimed.",
    "",
    `Reproduce: \`flock /tmp/veloq-bench.lock ${s.command}\`.`,
    "",
  );
  return out.join("\n");
}

if (import.meta.main) {
  console.log(
    netSection(Deno.args[0] ?? new URL("./results/net_bench.json", import.meta.url).pathname),
  );
}
