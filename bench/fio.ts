/**
 * Runs fio once with `--output-format=json` among `args` and returns its
 * first job, or null (with one notice per process) when fio is not
 * installed. A failing fio run throws with its stderr. The one fio runner of
 * the I/O benches (io_bench, io_qd_bench, durable_bench).
 */
// deno-lint-ignore no-explicit-any
export type FioJob = any;

let missing = false;

export async function runFio(args: string[]): Promise<FioJob | null> {
  if (missing) return null;
  let out;
  try {
    out = await new Deno.Command("fio", { args, stdout: "piped", stderr: "piped" }).output();
  } catch {
    missing = true;
    console.error("fio not installed: its rows are skipped (apt-get install fio)");
    return null;
  }
  if (!out.success) throw new Error(`fio failed: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(new TextDecoder().decode(out.stdout)).jobs[0];
}
