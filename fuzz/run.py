#!/usr/bin/env python3
"""Runs the libFuzzer build of smrt-fuzz on each target in turn (`make fuzz`).

  fuzz/run.py BINARY TARGET...      (FUZZ_SECONDS per target, default 60)

New coverage goes to .build-fuzz/corpus/<target> (the committed seeds in fuzz/corpus/<target> are only read);
a crash, hang (timeout), leak or out-of-memory input is written straight to fuzz/regressions/<target>/, where
the FuzzRegressionTests replay it. Each run appends one line to reliability/fuzz-runs.jsonl and keeps its last
lines in reliability/fuzz-<target>.log. Exits 1 when any target found something.

`signed` runs the whole server handler over a scratch SQLite database (FuzzEntryPoints+Signed.swift): it traps by
itself after 10 s without a reply (a hang, with the call's description), so libFuzzer's own -timeout is longer for
it. To keep fuzzing past the first finding, pass FUZZ_FLAGS="-fork=1 -ignore_crashes=1 -ignore_timeouts=1"
(every finding still lands in fuzz/regressions/<target>/).
"""
import datetime, json, os, re, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# libFuzzer's -timeout per target (seconds); `signed` reports its own hangs at 10 s.
TIMEOUTS = {"signed": 30}
# `signed` keeps a database, caches and background threads (writer, completions, bulk reads) across inputs, so
# libFuzzer's per-input leak check (which also runs each input a second time whenever mallocs and frees differ)
# reports objects still in flight on other threads: leaks are `make test-sanitize`'s job.
TARGET_FLAGS = {"signed": ["-detect_leaks=0"]}
TARGET_ASAN = {"signed": "detect_leaks=0"}


def main():
    binary, targets = sys.argv[1], sys.argv[2:]
    seconds = int(os.environ.get("FUZZ_SECONDS", "60"))
    extra = os.environ.get("FUZZ_FLAGS", "").split()
    found = []
    for target in targets:
        work = os.path.join(ROOT, ".build-fuzz", "corpus", target)
        seeds = os.path.join(ROOT, "fuzz", "corpus", target)
        regressions = os.path.join(ROOT, "fuzz", "regressions", target)
        for d in (work, regressions, os.path.join(ROOT, "reliability")):
            os.makedirs(d, exist_ok=True)
        before = set(os.listdir(regressions))
        # reliability/lsan.supp: the bounded exit-time Data objects of the replay-cache insert (RELIABILITY.md,
        # "Sanitizers"), which libFuzzer's leak check would otherwise report on the first input of `signed`.
        env = dict(os.environ, SMRTCHAT_FUZZ_TARGET=target, SWIFT_BACKTRACE="enable=no",
                   LSAN_OPTIONS="suppressions=" + os.path.join(ROOT, "reliability", "lsan.supp")
                   + ":print_suppressions=0")
        if target in TARGET_ASAN:
            env["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), TARGET_ASAN[target]]))
        cmd = [binary, f"-max_total_time={seconds}", f"-timeout={TIMEOUTS.get(target, 10)}", "-rss_limit_mb=2048",
               "-print_final_stats=1",
               f"-artifact_prefix={regressions}/", *TARGET_FLAGS.get(target, []), *extra, work, seeds]
        dictionary = os.path.join(ROOT, "fuzz", f"{target}.dict")
        if os.path.exists(dictionary):
            cmd.insert(-2, f"-dict={dictionary}")
        print(f"fuzz {target}: {seconds} s ({' '.join(cmd[1:])})", flush=True)
        log_path = os.path.join(ROOT, ".build-fuzz", f"fuzz-{target}.log")
        started = time.monotonic()
        with open(log_path, "w") as log:
            status = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT).returncode
        elapsed = time.monotonic() - started
        text = open(log_path, errors="replace").read()
        execs = 0
        # (-fork mode prints "#N: cov: ..." status lines and no final stats)
        for pattern in (r"stat::number_of_executed_units:\s*(\d+)", r"Done (\d+) runs", r"#(\d+):?\s"):
            hits = re.findall(pattern, text)
            if hits:
                execs = int(hits[-1])
                break
        cov = re.findall(r"cov: (\d+) ft: (\d+)", text)
        new = sorted(set(os.listdir(regressions)) - before)
        record = {
            "target": target, "seconds": seconds, "execs": execs, "exit_status": status,
            "exec_per_s": round(execs / seconds) if seconds else 0,
            "elapsed_s": round(elapsed, 1), "exec_per_s_elapsed": round(execs / elapsed) if elapsed else 0,
            "cov": int(cov[-1][0]) if cov else 0, "ft": int(cov[-1][1]) if cov else 0,
            "corpus_files": len(os.listdir(work)), "new_regressions": new,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        with open(os.path.join(ROOT, "reliability", "fuzz-runs.jsonl"), "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
        lines = text.splitlines()
        with open(os.path.join(ROOT, "reliability", f"fuzz-{target}.log"), "w") as f:
            f.write("\n".join(lines[-60:]) + "\n")
        print(f"fuzz {target}: {execs} executions, cov {record['cov']}, exit {status}"
              + (f", new regression inputs: {new}" if new else ""), flush=True)
        if status != 0 or new:
            found.append(target)
    if found:
        print(f"fuzz: findings in {found}: see reliability/fuzz-<target>.log and fuzz/regressions/", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
