"""Peak memory of parsing a train log, large against small: `pgolf log` and `pgolf check` must stay
in bounded memory however long the log (issue 10: a 284 MB log took 2.3 GB).

Generates a log in the official grammar (header, then `step:N/M train_loss ...` lines with an
in-training validation every 1,000 steps, then the export and score lines) of about `--mb` MB, and a
small one (~1 MB) in the same way; each is parsed in a fresh child process by `parse_log` (what
`pgolf log` runs) and by the records-folder reader (what `pgolf check` runs), and the child's peak RSS
(ru_maxrss) is printed. The ratio large/small is the figure: ~1 means memory does not grow with the log.

    .venv/bin/python bench/log_memory.py [--mb 300] [--dir /tmp/pgolf-log-bench] [--src CHECKOUT]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHILD = """
import json, resource, sys, time
from pathlib import Path
start = time.perf_counter()
if sys.argv[1] == "log":
    from sweeper.runlog import parse_log
    r = parse_log(sys.argv[2])
    facts = {"val_bpb": r.val_bpb, "steps": r.steps, "curve_points": len(r.train_curve)}
else:
    from sweeper.records.folder import read_record_folder
    folder = read_record_folder(Path(sys.argv[2]).parent)
    facts = {"val_bpb": folder.logs[0].scan.result.val_bpb, "steps": folder.logs[0].scan.result.steps}
facts["seconds"] = round(time.perf_counter() - start, 1)
facts["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(facts))
"""


def write_log(path: Path, megabytes: float) -> int:
    """A log of about `megabytes` MB; returns its step count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "submission.json").write_text('{"name": "bench"}\n')  # older pgolf versions require one
    line_bytes = len("step:1000000/9999999 train_loss:2.123456 train_time:1234567ms step_avg:52.10ms\n")
    steps = int(megabytes * 1e6 / line_bytes)
    with path.open("w") as out:
        out.write("seed:1337\nval_loader:shards pattern=x tokens:62021632\nmodel_params:17059912\n")
        for step in range(1, steps + 1):
            out.write(f"step:{step}/{steps} train_loss:{2 + 1 / step:.6f} train_time:{step * 52}ms step_avg:52.00ms\n")
            if step % 1000 == 0:
                out.write(f"step:{step}/{steps} val_loss:2.0{step % 7} val_bpb:1.2{step % 7} train_time:{step * 52}ms "
                          "step_avg:52.00ms\n")
        out.write(f"stopping_early: wallclock_cap train_time:{steps * 52}ms step:{steps}/{steps}\n"
                  "Serialized model int8+zlib: 15815847 bytes\nCode size: 47642 bytes\n"
                  "Total submission size int8+zlib: 15863489 bytes\n"
                  "final_int8_zlib_roundtrip val_loss:2.0366 val_bpb:1.2062 eval_time:1200ms\n"
                  "final_int8_zlib_roundtrip_exact val_loss:2.03657529 val_bpb:1.20617460\n")
    return steps


def measure(kind: str, log: Path, src: Path) -> dict[str, float]:
    env = {"PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", CHILD, kind, str(log)], capture_output=True, text=True,
                          env=env, cwd=src, check=True)  # cwd: `-c` puts it first on sys.path
    return json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=300.0, help="size of the large log in MB")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/pgolf-log-bench"))
    parser.add_argument("--src", type=Path, default=REPO, help="the pgolf checkout to measure (e.g. an older one)")
    args = parser.parse_args()
    shutil.rmtree(args.dir, ignore_errors=True)
    small, large = args.dir / "small" / "train_seed1337.log", args.dir / "large" / "train_seed1337.log"
    start = time.perf_counter()
    write_log(small, 1.0)
    steps = write_log(large, args.mb)
    print(f"generated {large.stat().st_size / 1e6:,.0f} MB ({steps:,} steps) and {small.stat().st_size / 1e6:.1f} MB "
          f"logs in {time.perf_counter() - start:.0f} s")
    for kind, what in (("log", "parse_log (pgolf log)"), ("check", "records folder (pgolf check)")):
        a, b = measure(kind, small, args.src), measure(kind, large, args.src)
        print(f"{what}: small {a['peak_rss_mb']:.0f} MB peak RSS in {a['seconds']} s, large {b['peak_rss_mb']:.0f} MB "
              f"in {b['seconds']} s; ratio large/small {b['peak_rss_mb'] / a['peak_rss_mb']:.2f} "
              f"(scores {a['val_bpb']} / {b['val_bpb']}, steps {b['steps']:,})")
    print(f"this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
