#!/usr/bin/env bash
# scripts/hardening.sh — the C core under AddressSanitizer + UBSan, valgrind
# memcheck, ThreadSanitizer and libFuzzer, built with Debian's clang (zig
# cannot link the sanitizer runtimes).  asan, valgrind, tsan and fuzz end with
# a line "N passed, N failed" (./dev test runs all four).
#
#   scripts/hardening.sh asan [FILTER...]      C tests, ASan+UBSan, leak check in every forked test
#   scripts/hardening.sh valgrind [FILTER...]  C tests under valgrind memcheck (VB_MODEL_OPS=100000)
#   scripts/hardening.sh tsan [FILTER...]      C tests under ThreadSanitizer (default: threads, shared and waiter tests)
#   scripts/hardening.sh fuzz [SECONDS]        every harness in csrc/fuzz/ (default 60 s in all,
#                                              split evenly); a long run: fuzz 3600
#   scripts/hardening.sh replay FILE...        run inputs (crash-*, corpus files) through both harnesses
#   scripts/hardening.sh sources               the source lists taken from build.zig, checked
#
# Sources and warning flags are read from build.zig (lib_sources, the test
# program's files, c_flags), so this script cannot build something other than
# `zig build test` does; it stops if a csrc/*.c or csrc/tests/*.c file is not
# in those lists.  Builds go to zig-out/hardening/.  Needs clang,
# libclang-rt-14-dev, valgrind and liburing-dev (./dev setup installs them).
#
# Environment: CC (default clang), VB_MODEL_OPS (asan default 1000000,
# valgrind 100000), VB_SEED, VB_FUZZ_JOBS (parallel fuzzers, default 1),
# VB_FUZZ_ARGS (extra libFuzzer flags).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CC=${CC:-clang}
OUT=zig-out/hardening
ARCH=$(uname -m)
LIBURING=/usr/lib/$ARCH-linux-gnu/liburing.a
HARNESSES=(buddy hybrid) # csrc/fuzz/fuzz_pool.c, one binary per pool kind

log() { printf '[hardening] %s\n' "$*" >&2; }
die() { printf '[hardening] error: %s\n' "$*" >&2; exit 1; }

# --- what to build: read from build.zig -------------------------------------

# The quoted strings between the line matching $1 and the next line "};" or
# "},": one of build.zig's arrays.
zig_array() {
  awk -v start="$1" '
    index($0, start) { on = 1; next }
    on && /^[[:space:]]*}[,;]/ { exit }
    on { while (match($0, /"[^"]*"/)) { print substr($0, RSTART + 1, RLENGTH - 2); $0 = substr($0, RSTART + RLENGTH) } }
  ' build.zig
}

LIB_SOURCES=()
TEST_SOURCES=()
C_FLAGS=()
read_build_zig() {
  mapfile -t LIB_SOURCES < <(zig_array 'const lib_sources = ')
  mapfile -t C_FLAGS < <(zig_array 'const c_flags = ')
  # The test program's files: the .files list that names csrc/tests/.
  mapfile -t TEST_SOURCES < <(grep -o '"csrc/tests/[^"]*\.c"' build.zig | tr -d '"')
  [ ${#LIB_SOURCES[@]} -gt 0 ] || die "no lib_sources found in build.zig"
  [ ${#TEST_SOURCES[@]} -gt 0 ] || die "no csrc/tests/*.c found in build.zig"
  [ ${#C_FLAGS[@]} -gt 0 ] || die "no c_flags found in build.zig"
  local f missing=0
  for f in csrc/*.c; do
    printf '%s\n' "${LIB_SOURCES[@]}" | grep -qxF "$f" ||
      { log "$f is not in build.zig's lib_sources"; missing=1; }
  done
  for f in csrc/tests/*.c; do
    printf '%s\n' "${TEST_SOURCES[@]}" | grep -qxF "$f" ||
      { log "$f is not in build.zig's test program"; missing=1; }
  done
  for f in "${LIB_SOURCES[@]}" "${TEST_SOURCES[@]}"; do
    [ -f "$f" ] || { log "build.zig names $f, which does not exist"; missing=1; }
  done
  [ "$missing" = 0 ] || die "source lists out of step with build.zig (see above)"
  # Frame pointers stay on for the sanitizers' stack traces.
  local keep=() fl
  for fl in "${C_FLAGS[@]}"; do [ "$fl" = -fomit-frame-pointer ] || keep+=("$fl"); done
  C_FLAGS=("${keep[@]}")
}

need() {
  command -v "$1" >/dev/null || die "$1 not found: run ./dev setup (apt: $2)"
}

# Compiles sources into objects in DIR, in parallel (one object per source,
# named after its path so that tests/x.c and x.c cannot clash).
#   compile DIR "FLAGS" SOURCE...
compile() {
  local dir=$1 cflags=$2
  shift 2
  need "$CC" "clang libclang-rt-14-dev"
  mkdir -p "$dir"
  rm -f "$dir"/*.o
  # liburing's headers come from /usr/include, which Debian's clang searches
  # anyway (zig needs them copied next to its own libc headers; clang not).
  printf '%s\n' "$@" | xargs -P "$(nproc 2>/dev/null || echo 2)" -I{} sh -c \
    'o="$1/$(printf %s "$2" | tr / _).o"; shift 2; exec "$@" -c "$0" -o "$o"' \
    {} "$dir" {} "$CC" "${C_FLAGS[@]}" $cflags -Icsrc/include -Icsrc ||
    die "compiling into $dir failed"
}

# Links objects with liburing's static archive (as build.zig does).
#   link EXE "FLAGS" OBJECT...
link() {
  local exe=$1 lflags=$2
  shift 2
  [ -f "$LIBURING" ] || die "$LIBURING missing: apt-get install liburing-dev"
  # libm: the ring's offset check (trunc); libdl/pthread: resident.c, threads.
  # shellcheck disable=SC2086
  "$CC" $lflags "$@" "$LIBURING" -lm -ldl -lpthread -o "$exe" || die "linking $exe failed"
}

SAN_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1 -g"

# ASan: freed memory and heap bounds, leaks (LeakSanitizer: at exit for the
# runner, and in each forked test by test_main.c); UBSan: any undefined
# behaviour ends the test (-fno-sanitize-recover).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

cmd_asan() {
  read_build_zig
  log "building the C tests with $CC -fsanitize=address,undefined (-O1 -g)"
  local t0=$SECONDS
  compile "$OUT/asan" "$SAN_FLAGS" "${LIB_SOURCES[@]}" "${TEST_SOURCES[@]}"
  link "$OUT/asan/vb_tests" "$SAN_FLAGS" "$OUT"/asan/*.o
  log "built in $((SECONDS - t0)) s; running (ASAN_OPTIONS=$ASAN_OPTIONS)"
  VB_MODEL_OPS=${VB_MODEL_OPS:-1000000} "$OUT/asan/vb_tests" "$@"
}

cmd_valgrind() {
  read_build_zig
  need valgrind valgrind
  log "building the C tests with $CC -O1 -gdwarf-4 (no sanitizers)"
  local t0=$SECONDS
  # DWARF 4: valgrind 3.19 cannot read clang 14's default DWARF 5.
  compile "$OUT/valgrind" "-O1 -gdwarf-4 -fno-omit-frame-pointer" "${LIB_SOURCES[@]}" "${TEST_SOURCES[@]}"
  link "$OUT/valgrind/vb_tests" "" "$OUT"/valgrind/*.o
  log "built in $((SECONDS - t0)) s; running under valgrind memcheck"
  # Every test runs, the io_uring ones included: valgrind 3.19 knows
  # io_uring_setup/enter/register, and the ring's memory is mmap'd (defined).
  # But it keeps its big lock while a thread blocks in io_uring_enter, so the
  # tests where one thread waits in the kernel for another skip themselves
  # (VB_UNDER_VALGRIND=1, SKIP_UNDER_VALGRIND in csrc/tests/test.h), and a
  # test still hung after VB_TEST_TIMEOUT seconds fails instead of hanging.
  # Every forked test is followed by valgrind (fork needs no --trace-children,
  # exec does): its leaks and errors are reported, and --error-exitcode makes
  # the test's child exit 1, which the runner counts as a failed test.
  # The model tests run 100k ops per pool instead of 1M (asan runs 1M):
  # the stage takes ~15 s, ~35 s with 1M.
  VB_MODEL_OPS=${VB_MODEL_OPS:-100000} VB_UNDER_VALGRIND=1 VB_TEST_TIMEOUT=${VB_TEST_TIMEOUT:-120} \
    valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --trace-children=yes --track-origins=yes \
    "$OUT/valgrind/vb_tests" "$@"
}

# ThreadSanitizer over the tests that use threads (views, remote frees).
cmd_tsan() {
  read_build_zig
  log "building the C tests with $CC -fsanitize=thread (-O1 -g)"
  local t0=$SECONDS flags="-fsanitize=thread -fno-omit-frame-pointer -O1 -g"
  compile "$OUT/tsan" "$flags" "${LIB_SOURCES[@]}" "${TEST_SOURCES[@]}"
  link "$OUT/tsan/vb_tests" "$flags" "$OUT"/tsan/*.o
  log "built in $((SECONDS - t0)) s; running"
  # A race ends the test at once (its child exits non-zero: a failed test).
  [ $# -gt 0 ] || set -- threads shared waiter
  TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1} \
    "$OUT/tsan/vb_tests" "$@"
}

cmd_sources() {
  read_build_zig
  printf 'lib:   %s\n' "${LIB_SOURCES[*]}"
  printf 'tests: %s\n' "${TEST_SOURCES[*]}"
  printf 'flags: %s\n' "${C_FLAGS[*]}"
}

# --- fuzzing --------------------------------------------------------------------

build_fuzzers() {
  read_build_zig
  local name t0=$SECONDS
  log "building ${#HARNESSES[@]} libFuzzer harnesses with $CC -fsanitize=fuzzer,address,undefined"
  # The library once, instrumented for coverage; each harness links it.
  compile "$OUT/fuzz/lib" "$SAN_FLAGS -fsanitize=fuzzer-no-link" "${LIB_SOURCES[@]}"
  for name in "${HARNESSES[@]}"; do
    compile "$OUT/fuzz/$name" "$SAN_FLAGS -fsanitize=fuzzer -DVB_FUZZ_HYBRID=$([ "$name" = hybrid ] && echo 1 || echo 0)" csrc/fuzz/fuzz_pool.c
    link "$OUT/fuzz/fuzz_$name" "$SAN_FLAGS -fsanitize=fuzzer" "$OUT/fuzz/$name"/*.o "$OUT"/fuzz/lib/*.o
  done
  log "built in $((SECONDS - t0)) s"
}

cmd_fuzz() {
  local total=${1:-60}
  [[ "$total" =~ ^[0-9]+$ ]] && [ "$total" -gt 0 ] || die "fuzz takes a number of seconds, not '$total'"
  build_fuzzers
  local each=$((total / ${#HARNESSES[@]}))
  [ "$each" -gt 0 ] || each=1
  local passed=0 failed=0 name execs summary=()
  for name in "${HARNESSES[@]}"; do
    # New inputs go to a working corpus beside the build; the committed seeds
    # (csrc/fuzz/corpus/NAME) are only read.  Crashes land in $OUT/fuzz/.
    local work=$OUT/fuzz/corpus-$name seeds=csrc/fuzz/corpus/$name logf=$OUT/fuzz/$name.log
    mkdir -p "$work"
    log "fuzz_$name: ${each} s (corpus $work + $seeds)"
    local rc=0 jobs=()
    # Parallel fuzzers (VB_FUZZ_JOBS=2): each logs to fuzz-N.log in the
    # working directory, which is $OUT/fuzz.
    [ "${VB_FUZZ_JOBS:-1}" = 1 ] || jobs=(-jobs="$VB_FUZZ_JOBS" -workers="$VB_FUZZ_JOBS")
    # shellcheck disable=SC2086
    (cd "$OUT/fuzz" && rm -f fuzz-*.log &&
      exec "$PWD/fuzz_$name" -max_total_time="$each" -timeout=20 -rss_limit_mb=4096 \
        -max_len=4096 -print_final_stats=1 -artifact_prefix="$ROOT/$OUT/fuzz/$name-" \
        "${jobs[@]}" ${VB_FUZZ_ARGS:-} "$ROOT/$work" "$ROOT/$seeds") >"$logf" 2>&1 || rc=$?
    [ ${#jobs[@]} = 0 ] || { cat "$OUT"/fuzz/fuzz-*.log >>"$logf" 2>/dev/null; rm -f "$OUT"/fuzz/fuzz-*.log; }
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logf" | awk '{s += $1} END {print s + 0}')
    if [ "$rc" = 0 ] && ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|deadly signal' "$logf"; then
      passed=$((passed + 1))
      summary+=("fuzz_$name: ok, $execs executions in ${each} s, corpus $(find "$work" -type f | wc -l) files")
    else
      failed=$((failed + 1))
      sed -n '/==ERROR\|runtime error\|deadly signal\|FUZZ FAIL/,+40p' "$logf" | head -60 >&2
      summary+=("fuzz_$name: FAILED (exit $rc) after $execs executions; log $logf, input $(ls -t "$OUT/fuzz/$name-"* 2>/dev/null | head -1)")
    fi
  done
  printf '%s\n' "${summary[@]}"
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
}

cmd_replay() {
  [ $# -gt 0 ] || die "replay takes input files"
  build_fuzzers
  local name rc=0
  for name in "${HARNESSES[@]}"; do
    "$OUT/fuzz/fuzz_$name" "$@" || rc=1
  done
  return $rc
}

cmd=${1:-help}
shift || true
trap 'log "$cmd: $SECONDS s"' EXIT
case "$cmd" in
  asan) cmd_asan "$@" ;;
  tsan) cmd_tsan "$@" ;;
  valgrind) cmd_valgrind "$@" ;;
  fuzz) cmd_fuzz "$@" ;;
  replay) cmd_replay "$@" ;;
  sources) cmd_sources ;;
  *) sed -n '2,13p' "$0"; exit 2 ;;
esac
