"""How well preflight sizes real record scripts: exact parameters, artifact bytes, against the logs.

For every record folder (script + logs) under the given roots: the logged run's env is read from
the folder's run command, `sweeper.script.size_script` sizes the script at that env, and the
result is compared with the logs' `model_params` and total artifact bytes. The same scripts are
sized by the previous sizer, `sweeper.model_size.estimate_size` (the baseline row set), and the
byte rates are refitted with each record left out (leave-one-out error: the honest figure for
scripts the fit has not seen). `--write-fit` refits the rates on all records and rewrites
`sweeper/script/fitted.py`.

    OMP_NUM_THREADS=1 .venv/bin/python bench/preflight_accuracy.py [ROOT ...] [--write-fit]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sweeper.model_size import estimate_size
from sweeper.script import size_script
from sweeper.script.build import BuildFailed
from sweeper.script.fitted import write_fitted
from sweeper.script.published import Measured, find_records, measure
from sweeper.script.rates import fit, leave_one_out

DEFAULT_ROOTS = (ROOT / "tests/fixtures/pg-records", ROOT / "tests/fixtures/pg-records-extra")
CAP = 16_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="*", type=Path, default=[r for r in DEFAULT_ROOTS if r.is_dir()])
    parser.add_argument("--write-fit", action="store_true", help="refit the rates and rewrite sweeper/script/fitted.py")
    args = parser.parse_args()
    console = Console(highlight=False, width=230)
    records = [r for root in args.roots for r in find_records(root)]
    measured: list[Measured] = []
    with console.status("building each record's model on meta") as status:
        for record in records:
            status.update(f"building {record.name}")
            try:
                measured.append(measure(record))
            except BuildFailed as exc:
                console.print(f"{record.name}: not measurable ({exc})", markup=False)
    samples = [(m.record.name, m.census, m.logged_model_bytes) for m in measured]
    with console.status("fitting rates, and once more per record left out"):
        rates = fit(samples)
        loo = leave_one_out(samples)
    if args.write_fit:
        path = write_fitted(rates, loo, {m.record.name: m.format.family for m in measured})
        console.print(f"wrote {path}; rerun without --write-fit to score the new rates", markup=False)
        return
    table = Table("record", "params logged", "predicted", "exact", "bytes logged", "predicted", "err %", "LOO %",
                  "band %", "baseline err %", "method", "format", title="preflight sizing vs record logs")
    errors, baseline_errors, exact, fits_over, low_over = [], [], 0, [], []
    for record in records:
        size = size_script(record.script, record.env)
        comparable = _same_codec(size.quant_format, record.logged_codec[0] if record.logged_codec else None)
        predicted = size.model_bytes + size.code_bytes
        error = predicted / record.artifact_bytes - 1
        base = estimate_size(record.script.read_text(errors="replace"), record.env)
        base_error = (base.model_bytes + record.script.stat().st_size) / record.artifact_bytes - 1
        is_exact = size.params_exact and size.model_params == record.logged_params
        exact += is_exact
        if comparable:
            errors.append(error)
            baseline_errors.append(base_error)
        if record.artifact_bytes <= CAP and predicted > CAP:
            fits_over.append(record.name)
        if record.artifact_bytes <= CAP and size.model_bytes * (1 - size.band) + size.code_bytes > CAP:
            low_over.append(record.name)
        table.add_row(record.name[:44], f"{record.logged_params or 0:,}", f"{size.model_params:,}", "yes" if is_exact else "NO",
                      f"{record.artifact_bytes:,}", f"{predicted:,}", f"{error * 100:+.2f}" + ("" if comparable else " *"),
                      f"{loo.get(record.name, float('nan')) * 100:+.2f}", f"{size.band * 100:.1f}",
                      f"{base_error * 100:+.1f}", size.method,
                      size.quant_format.replace(" passthrough", ""))
    console.print(table, markup=False)
    n = len(records)
    abs_err = [abs(e) for e in errors]
    abs_base = [abs(e) for e in baseline_errors]
    abs_loo = [abs(e) for e in loo.values()]
    console.print(
        f"records: {n}; params exact: {exact}/{n}; bytes within 3%: {sum(e <= 0.03 for e in abs_err)}/{len(errors)} "
        f"(baseline {sum(e <= 0.03 for e in abs_base)}/{len(errors)}); abs error max {max(abs_err) * 100:.2f}% "
        f"median {statistics.median(abs_err) * 100:.2f}% (baseline max {max(abs_base) * 100:.1f}% median "
        f"{statistics.median(abs_base) * 100:.1f}%, ratio of medians {statistics.median(abs_base) / statistics.median(abs_err):.1f}x); "
        f"leave-one-out model bytes: within 3% {sum(e <= 0.03 for e in abs_loo)}/{len(abs_loo)}, median "
        f"{statistics.median(abs_loo) * 100:.2f}%, max {max(abs_loo) * 100:.1f}%; records that fit with the point "
        f"value over {CAP:,}: {len(fits_over)} {fits_over or ''}, with even the band's low end over it: "
        f"{len(low_over)} {low_over or ''}", markup=False)
    console.print("* the logged run used a different compressor than this machine would (e.g. zstandard was "
                  "absent there): left out of the byte aggregates", markup=False)


def _same_codec(label: str, logged: str | None) -> bool:
    return logged is None or label.rsplit(", ", 1)[-1].split("-")[0] == logged


if __name__ == "__main__":
    main()
