#!/usr/bin/env python3
"""Gathers the figures of `make fuzz` and `make soak` into reliability/results.json.

Reads reliability/fuzz-runs.jsonl (one line per fuzz run, appended by fuzz/run.py) and
reliability/figures/*.json (written by the end-to-end tests when SMRTCHAT_RELIABILITY_OUT is set, and by
tests/hostile: boundary.json and flood.json).
"""
import json, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name):
    path = os.path.join(HERE, "figures", f"{name}.json")
    return json.load(open(path)) if os.path.exists(path) else None


def main():
    runs = []
    path = os.path.join(HERE, "fuzz-runs.jsonl")
    if os.path.exists(path):
        runs = [json.loads(line) for line in open(path) if line.strip()]
    fuzz = {}
    for r in runs:
        t = fuzz.setdefault(r["target"], {"runs": 0, "execs": 0, "seconds": 0, "findings": 0})
        t["runs"] += 1
        t["execs"] += r["execs"]
        t["seconds"] += r["seconds"]
        t["findings"] += len(r.get("new_regressions", [])) + (1 if r.get("exit_status", 0) != 0 else 0)
        t["last_cov"] = r.get("cov", 0)

    modes = {m: load(f"crashkill-{m}") for m in ("normal", "full")}
    hostile, stalled = load("hostile"), load("stalled")
    boundary, flood = load("boundary") or {}, load("flood") or {}

    def total(key):
        values = [f[key] for f in modes.values() if f]
        return int(sum(values)) if len(values) == len(modes) else None

    results = {
        "fuzz_frame_execs": fuzz.get("frame", {}).get("execs", 0),
        "fuzz": fuzz,
        "crashkill_rounds": total("rounds"),
        "crashkill_lost_acked": total("lost_acked"),
        "crashkill_duplicates": total("duplicates"),
        "crashkill_integrity_failures": total("integrity_failures"),
        "crashkill_nonidempotent_duplicates": total("nonidempotent_duplicates"),
        "signed_fuzz_execs": fuzz.get("signed", {}).get("execs", 0),
        "signed_fuzz_findings": fuzz.get("signed", {}).get("findings", 0),
        "boundary_cases": boundary.get("boundary_cases"),
        "boundary_failures": boundary.get("boundary_failures"),
        "boundary_health_max_ms": boundary.get("health_max_ms"),
        "preauth_flood_rss_growth_mib": flood.get("preauth_flood_rss_growth_mib"),
        "preauth_flood_legit_p99_ms": flood.get("preauth_flood_legit_p99_ms"),
        "preauth_flood_sigterm_s": flood.get("preauth_flood_sigterm_s"),
        "crashkill": {m: ({k: int(v) for k, v in f.items()} if f else None) for m, f in modes.items()},
        "hostile_p99_ratio": round(hostile["hostile_p99_ratio"], 3) if hostile else None,
        "hostile": hostile,
        "stalled_subscribers_send_ratio": round(stalled["stalled_subscribers_send_ratio"], 3) if stalled else None,
        "stalled": stalled,
        "peak_rss_kib": int(hostile["peak_rss_kib"]) if hostile else None,
        "peak_fds": int(hostile["peak_fds"]) if hostile else None,
    }
    out = os.path.join(HERE, "results.json")
    if len(sys.argv) > 1:
        results["soak_tests_passed"] = sys.argv[1] == "0"
    elif os.path.exists(out):  # `make fuzz` keeps the last soak's outcome
        results["soak_tests_passed"] = json.load(open(out)).get("soak_tests_passed")
    with open(out, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")
    print(json.dumps({k: v for k, v in results.items() if not isinstance(v, dict)}, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
