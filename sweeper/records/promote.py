"""`pgolf promote`: validate a sweep config's seeds and, only if they pass, write a records folder.

The folder is written to a staging directory beside the target, checked with `pgolf check` (the
same SOTA and policy), and only then renamed into place. A refused promotion (or one whose written
folder fails the check) never touches the target: it leaves `<target>.draft/`, the same files with
a README that starts with DRAFT and the reasons, to inspect. `report_best_config` gives the demo the
candidate report for a sweep's best config.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pydantic import BaseModel

from sweeper.candidates import rank_candidates
from sweeper.errors import RecordError
from sweeper.ledger import Ledger
from sweeper.records.check import check_folder, judge
from sweeper.records.from_ledger import ConfigRuns, load_config
from sweeper.records.layout import write_record_folder
from sweeper.records.report import ReportFiles, write_report
from sweeper.records.schema import Limits, SignificancePolicy
from sweeper.records.sota import resolve_sota
from sweeper.records.verdict import Verdict
from sweeper.runlog import RunResult
from sweeper.sweepdir import SweepDir

LEGALITY_CODES = {"calibration_after_cap", "rescoring_after_ttt", "val_data_in_training", "averaging_chosen_by_val"}
RECORD_REFUSING_WARNINGS = LEGALITY_CODES | {"failed_seed", "too_few_seeds"}
DRAFT_MARK = "REFUSED.txt"  # in a draft folder: the reasons, one a line (and what lets a rerun replace it)


class PromoteResult(BaseModel):
    """What promotion did: the verdict, and either the folder written or the reasons it was refused
    (with the draft folder written instead)."""

    verdict: Verdict
    written: bool
    refusals: list[str] = []
    out_dir: Path | None = None
    draft_dir: Path | None = None
    report_html: Path | None = None
    report_md: Path | None = None


def draft_dir_of(out_dir: Path) -> Path:
    """Where a refused promotion to `out_dir` leaves its draft: `<out_dir>.draft/`."""
    return out_dir.with_name(out_dir.name + ".draft")


def judge_config(runs: ConfigRuns, *, sota: str | None, policy: SignificancePolicy, limits: Limits,
                 non_record: bool) -> Verdict:
    """The verdict on a config's seeds, exactly as `pgolf check` would give it on the written folder."""
    return judge(runs.candidate, runs.legality, limits=limits, policy=policy,
                 sota=resolve_sota(sota, runs.candidate.seeds) if sota is not None else None,
                 non_record=non_record, notes=runs.notes, extra_findings=runs.findings)


def refusals(verdict: Verdict, *, sota: str | None, non_record: bool) -> list[str]:
    """Every reason this verdict must not become a submission."""
    reasons = [f.message for f in verdict.violations]
    refusing = LEGALITY_CODES if non_record else RECORD_REFUSING_WARNINGS
    reasons += [f.message for f in verdict.warnings if f.code in refusing]
    if sota is None and not non_record:
        reasons.append("a record needs --sota (the current record's folder or val_loss) to test significance "
                       "against; or promote it with --non-record")
    return reasons


def promote(
    sweep: SweepDir,
    *,
    config_id: str,
    sota: str | None,
    out_dir: Path,
    name: str = "",
    author: str = "",
    github_id: str = "",
    non_record: bool = False,
    policy: SignificancePolicy | None = None,
    limits: Limits | None = None,
    blurb: str = "",
) -> PromoteResult:
    """Validate `config_id`'s seeds from the sweep's ledger; write the records folder only if they
    pass, else the draft folder beside it. `blurb` is a paragraph for the README."""
    policy, limits = policy or SignificancePolicy.named("readme"), limits or Limits()
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise RecordError(f"records folder {out_dir} already exists and is not empty; choose a new folder")
    runs = load_config(sweep, config_id)
    runs.candidate = runs.candidate.model_copy(update={
        "name": name or f"{sweep.name} config {config_id}", "author": author, "github_id": github_id,
        "track": "non-record-16mb" if non_record else "10min_16mb"})
    verdict = by_seed(judge_config(runs, sota=sota, policy=policy, limits=limits, non_record=non_record))
    draft = draft_dir_of(out_dir)
    if draft.exists() and not (draft / DRAFT_MARK).is_file():
        raise RecordError(f"{draft} exists and is not a draft pgolf wrote; move it away first")
    reasons = refusals(verdict, sota=sota, non_record=non_record)
    staging = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"

    def write_staging(reasons: list[str]) -> ReportFiles:
        shutil.rmtree(staging, ignore_errors=True)
        write_record_folder(staging, runs, verdict, author=author, github_id=github_id, folder=out_dir.name,
                            blurb=blurb, refusals=reasons)
        title = f"{'DRAFT (refused): ' if reasons else ''}Record candidate: {verdict.name}"
        return write_report(staging, verdict, _results(runs), _context(runs), title)

    try:
        files = write_staging(reasons)
        if not reasons:
            recheck = check_folder(staging, sota=sota, policy=policy, limits=limits, non_record=non_record)
            if recheck.passed:
                if out_dir.exists():
                    out_dir.rmdir()
                staging.rename(out_dir)
                shutil.rmtree(draft, ignore_errors=True)  # a stale draft of an earlier refusal
                return PromoteResult(verdict=by_seed(recheck).model_copy(update={"folder": str(out_dir)}),
                                     written=True, out_dir=out_dir, report_html=out_dir / files.html.name,
                                     report_md=out_dir / files.markdown.name)
            reasons = [f"the written folder does not pass pgolf check: {f.message}" for f in recheck.violations]
            files = write_staging(reasons)
        (staging / DRAFT_MARK).write_text("".join(f"{reason}\n" for reason in reasons), encoding="utf-8")
        shutil.rmtree(draft, ignore_errors=True)
        staging.rename(draft)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PromoteResult(verdict=verdict, written=False, refusals=reasons, draft_dir=draft,
                         report_html=draft / files.html.name, report_md=draft / files.markdown.name)


def by_seed(verdict: Verdict) -> Verdict:
    """The verdict with its seeds in numeric order (a folder lists its logs as text: 1337, 2025, 42)."""
    return verdict.model_copy(update={"seeds": sorted(verdict.seeds, key=lambda s: s.seed)})


def _results(runs: ConfigRuns) -> dict[int, RunResult]:
    return {seed: log.scan.result for seed, log in runs.logs.items()}


def _context(runs: ConfigRuns) -> dict[str, str]:
    env = " ".join(f"{k}={v}" for k, v in sorted(runs.env().items()))
    return {"sweep": runs.sweep.name, "config": runs.config_id, "env": env or "(defaults)"}


class BestConfigReport(BaseModel):
    config_id: str
    verdict: Verdict
    html: Path
    markdown: Path


def report_best_config(sweep: SweepDir, out_dir: Path, *, sota: str | None = None,
                       policy: SignificancePolicy | None = None) -> BestConfigReport:
    """The record-candidate report (HTML + Markdown) for the sweep's best config by mean val_bpb
    (the ranking `pgolf candidates` shows); significance is tested only when `sota` is given."""
    with Ledger(sweep.ledger_path, create=False) as ledger:
        ranked = rank_candidates(ledger.attempts(), Limits())
    if not ranked:
        raise RecordError(f"sweep {sweep.name} has no finished config with a score to report on")
    runs = load_config(sweep, ranked[0].config_id)
    verdict = judge_config(runs, sota=sota, policy=policy or SignificancePolicy.named("readme"), limits=Limits(),
                           non_record=False)
    files: ReportFiles = write_report(out_dir, verdict, _results(runs), _context(runs),
                                      f"Record candidate: {sweep.name} config {runs.config_id}")
    return BestConfigReport(config_id=runs.config_id, verdict=verdict, html=files.html, markdown=files.markdown)
