"""Record validation: read records folders and sweep configs, judge them against the Parameter Golf
rules (budgets, legality, claims, significance with explicit units), and write submissions."""

from sweeper.records.check import check_folder, judge
from sweeper.records.promote import PromoteResult, promote, report_best_config
from sweeper.records.schema import Fingerprint, RecordCandidate, SeedRun, SignificancePolicy, SotaReference
from sweeper.records.significance import SignificanceResult, assess
from sweeper.records.verdict import ClaimCheck, Finding, SeedReport, Verdict

__all__ = [
    "ClaimCheck", "Finding", "Fingerprint", "PromoteResult", "RecordCandidate", "SeedReport", "SeedRun",
    "SignificancePolicy", "SignificanceResult", "SotaReference", "Verdict", "assess", "check_folder", "judge",
    "promote", "report_best_config",
]
