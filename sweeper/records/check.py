"""`pgolf check`: judge a record candidate on its logs' figures, budgets, legality, claims and significance.

`judge` is shared with `pgolf promote`; `check_folder` reads a records folder first. Errors fail the
verdict; warnings (legality heuristics, claim mismatches) fail it only under `strict`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from sweeper.records.claim_shapes import unusable_claims
from sweeper.records.claims import check_submission
from sweeper.records.folder import dataset_fingerprint, read_record_folder, seed_run
from sweeper.records.readme_claims import check_readme
from sweeper.records.schema import (
    Limits,
    RecordCandidate,
    SeedRun,
    SignificancePolicy,
    SotaReference,
    train_allowance,
)
from sweeper.records.significance import assess, untested
from sweeper.records.sota import resolve_sota
from sweeper.records.verdict import ClaimCheck, Finding, SeedReport, Verdict


def check_folder(
    path: Path | str,
    *,
    sota: str | None = None,
    policy: SignificancePolicy | None = None,
    limits: Limits | None = None,
    non_record: bool = False,
    strict: bool = False,
    submission_file: str | None = None,
) -> Verdict:
    """Validate a records folder in the official layout (raises RecordError for unusable input)."""
    folder = read_record_folder(path, submission_file)
    candidate = folder.candidate()
    limits = limits or Limits()
    source = folder.submission_name or "submission.json"
    unusable = unusable_claims(folder.submission, candidate.seeds, source)
    claims = unusable + [c for c in check_submission(folder.submission, candidate.seeds, limits, source)
                         if c.field not in {u.field for u in unusable}]
    if folder.readme is not None:
        claims += check_readme(folder.readme, candidate.seeds)
    notes = list(folder.notes)
    for log in folder.logs:
        notes += [f"{log.path}: {warning}" for warning in log.scan.result.warnings]
    if folder.non_record and not non_record:
        said = f"{source} declares" if folder.submission.get("track") else "its parent folder names"
        notes.append(f"{said} track {folder.track!r}: pass --non-record to check it without the 10-minute limits")
    legality = {log.path: log.scan.findings for log in folder.logs}
    repeats = [_not_counted(finding, log.path)
               for log in folder.repeats
               for finding in budget_findings(seed_run(log, dataset_fingerprint(folder.submission)), limits, non_record)
               + log.scan.findings]
    return judge(
        candidate, legality, limits=limits, policy=policy or SignificancePolicy.named("readme"),
        sota=resolve_sota(sota, candidate.seeds) if sota is not None else None, non_record=non_record,
        strict=strict, claims=claims, notes=notes, extra_findings=[*folder.findings, *repeats],
        folder=str(folder.path),
    )


def _not_counted(finding: Finding, path: str) -> Finding:
    """A finding in a repeated-seed log that is not counted: still reported (a budget broken in any run
    of the submission is broken), saying which log it is."""
    return finding.model_copy(update={"message": f"{path} (a repeated run of seed {finding.seed}, not counted): "
                                                 f"{finding.message}"})


def judge(
    candidate: RecordCandidate,
    legality: Mapping[str, list[Finding]],
    *,
    limits: Limits,
    policy: SignificancePolicy,
    sota: SotaReference | None,
    non_record: bool = False,
    strict: bool = False,
    claims: Sequence[ClaimCheck] = (),
    notes: Sequence[str] = (),
    extra_findings: Iterable[Finding] = (),
    folder: str | None = None,
) -> Verdict:
    """The verdict on a candidate: every seed's budgets and legality, the seed set, and significance."""
    seeds = candidate.seeds
    reports = [SeedReport.of(run, budget_findings(run, limits, non_record) + list(legality.get(run.log_path, [])))
               for run in seeds]
    findings = [f for report in reports for f in report.violations] + list(extra_findings)
    findings += _seed_set_findings(seeds, policy, sota is not None and not non_record)
    significance = assess(seeds, sota, policy) if sota is not None and seeds else untested(seeds, policy)
    if sota is not None and not non_record and not significance.passes:
        findings.append(Finding(code="not_significant", severity="error", message=significance.statement))
    if strict:
        findings += [Finding(code="claim_mismatch", severity="warning",
                             message=f"{c.source} {c.field}: claims {c.claimed}, logs show {c.actual}. {c.note}".strip())
                     for c in claims if not c.ok]
    errors = [f for f in findings if f.severity == "error" or strict]
    return Verdict(
        verdict="fail" if errors else "pass", folder=folder, name=candidate.name, track=candidate.track,
        strict=strict, seeds=reports, violations=errors, warnings=[f for f in findings if f.severity == "warning"],
        claims=list(claims), significance=significance, notes=list(notes), limits=limits,
    )


def budget_findings(run: SeedRun, limits: Limits, non_record: bool) -> list[Finding]:
    """The artifact cap always; the training and evaluation wallclock caps on the record track."""
    found: list[Finding] = []

    def add(code: str, severity: str, message: str) -> None:
        found.append(Finding(code=code, severity=severity, message=f"seed {run.seed}: {message}",  # type: ignore[arg-type]
                             file=run.log_path, seed=run.seed))

    if run.artifact_bytes is None and run.artifact_megabytes is not None:
        _megabytes_only(run.artifact_megabytes, limits, add)
    elif run.artifact_bytes is None:
        add("artifact_unknown", "error", f"no artifact size in {run.log_path}: the {limits.artifact_bytes:,}-byte "
            "cap cannot be verified")
    elif run.artifact_bytes > limits.artifact_bytes:
        add("artifact_over_limit", "error", f"artifact {run.artifact_bytes:,} bytes exceeds the "
            f"{limits.artifact_bytes:,}-byte cap by {run.artifact_bytes - limits.artifact_bytes:,}")
    if non_record:
        return found
    allowance = train_allowance(limits, run.step_avg_ms)
    if run.train_seconds is None:
        add("train_time_unknown", "error", f"no training time in {run.log_path}: the {limits.train_s:g} s "
            "cap cannot be verified")
    elif run.train_seconds > allowance:
        add("train_time_over_limit", "error", f"training took {run.train_seconds:,.1f} s "
            f"({run.train_seconds / 60:.1f} min), over the {limits.train_s:g} s cap")
    if run.eval_seconds is None:
        add("eval_time_unknown", "warning", f"no evaluation time in {run.log_path}")
    elif run.eval_seconds > limits.eval_s:
        add("eval_time_over_limit", "error", f"evaluation took {run.eval_seconds:,.1f} s, over the "
            f"{limits.eval_s:g} s cap")
    return found


def _megabytes_only(megabytes: float, limits: Limits, add: Callable[[str, str, str], None]) -> None:
    """A size printed as `15.93MB` (two decimals: +-5,000 bytes) can only be checked up to its rounding."""
    low, high = (megabytes - 0.005) * 1e6, (megabytes + 0.005) * 1e6
    if low > limits.artifact_bytes:
        add("artifact_over_limit", "error", f"artifact {megabytes} MB exceeds the {limits.artifact_bytes:,}-byte cap")
    elif high > limits.artifact_bytes:
        add("artifact_unknown", "error", f"artifact given only as {megabytes} MB: within rounding of the "
            f"{limits.artifact_bytes:,}-byte cap, so it cannot be verified")
    else:
        add("artifact_megabytes_only", "warning", f"artifact given only as {megabytes} MB (no byte count); "
            f"within the {limits.artifact_bytes:,}-byte cap even after rounding")


def _seed_set_findings(seeds: Sequence[SeedRun], policy: SignificancePolicy, claims_record: bool) -> list[Finding]:
    found = []
    streams = sorted({s.fingerprint.name for s in seeds})
    if len(streams) > 1:
        found.append(Finding(code="mixed_streams", severity="error",
                             message=f"seeds were scored on different tokenizers / validation streams: {streams}"))
    if len(seeds) < policy.min_seeds:
        found.append(Finding(
            code="too_few_seeds", severity="error" if claims_record else "warning",
            message=f"{len(seeds)} distinct seed(s); a record needs at least {policy.min_seeds}"))
    return found
