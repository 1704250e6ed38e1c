"""Write a records folder in the official layout from a validated config of a sweep.

README.md (summary, per-seed table, mean and std, the significance statement with its units,
budgets, the config, how to reproduce), submission.json (the customary keys plus seeds,
seed_results, a compliance block and the dataset fingerprint `pgolf check` needs for a tokenizer
outside the official ones), one train log per seed, the exact train_gpt.py, requirements.txt.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import shlex
import shutil
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from statistics import fmean, stdev
from typing import Any

from sweeper.records.claims import COMPLIANCE_KEYS, compliance_facts
from sweeper.records.folder import SCRIPT_NAME
from sweeper.records.from_ledger import ConfigRuns
from sweeper.records.report import budget_table, markdown_table, seed_table
from sweeper.records.verdict import Verdict

TRACK_DIRS = {"10min_16mb": "track_10min_16mb", "non-record-16mb": "track_non_record_16mb"}  # official layout


def write_record_folder(target: Path, runs: ConfigRuns, verdict: Verdict, *, author: str, github_id: str,
                        folder: str, blurb: str = "", refusals: Sequence[str] = ()) -> None:
    """Create `target` with every file of a submission (target must not exist yet). With `refusals`
    it is a draft: its README says so first, and why, so nobody mistakes it for a submission."""
    target.mkdir(parents=True)
    for seed, source in runs.log_files.items():
        shutil.copyfile(source, target / runs.logs[seed].path)
    shutil.copyfile(runs.script_path, target / SCRIPT_NAME)
    (target / "requirements.txt").write_text(requirements(runs.script_path), encoding="utf-8")
    info = submission(runs, verdict, author=author, github_id=github_id)
    (target / "submission.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    (target / "README.md").write_text(readme(runs, verdict, info, folder=folder, blurb=blurb, refusals=refusals), encoding="utf-8")


def submission(runs: ConfigRuns, verdict: Verdict, *, author: str, github_id: str) -> dict[str, Any]:
    """submission.json: the customary keys, per-seed results, compliance and the dataset fingerprint."""
    seeds = runs.candidate.seeds
    bpbs, losses = [s.val_bpb for s in seeds], [s.val_loss for s in seeds]
    artifacts = [s.artifact_bytes for s in seeds if s.artifact_bytes is not None]
    codes = [s.code_bytes for s in seeds if s.code_bytes is not None]
    sig = verdict.significance
    facts = compliance_facts(seeds, verdict.limits)
    fingerprint = seeds[0].fingerprint
    info: dict[str, Any] = {
        "name": verdict.name, "author": author, "github_id": github_id, "date": dt.date.today().isoformat(),
        "track": verdict.track, "val_bpb": round(fmean(bpbs), 8), "val_loss": round(fmean(losses), 8),
    }
    if len(seeds) > 1:
        info |= {"val_bpb_std": round(stdev(bpbs), 8), "val_loss_std": round(stdev(losses), 8)}
    info |= {
        "bytes_total": max(artifacts) if artifacts else None, "bytes_code": max(codes) if codes else None,
        "seeds": [s.seed for s in seeds],
        "seed_results": {str(s.seed): {
            "val_bpb": s.val_bpb, "val_loss": s.val_loss, "artifact_bytes": s.artifact_bytes, "steps": s.steps,
            "train_time_s": s.train_seconds, "eval_time_s": s.eval_seconds} for s in seeds},
        "compliance": {**{COMPLIANCE_KEYS[k]: v for k, v in facts.items()}, "significance": {
            "policy": sig.policy, "test": sig.test, "units": sig.comparable_units, "n": sig.n, "p_value": sig.p,
            "alpha": sig.alpha, "passes": sig.passes, "delta_nats": sig.delta_nats, "delta_bpb": sig.delta_bpb,
            "sota": sig.sota_source}},
        "dataset": {"tokenizer": fingerprint.tokenizer, "stream": fingerprint.stream,
                    "score_ratio": round(fmean(s.fingerprint.ratio for s in seeds), 8),
                    "val_tokens": fingerprint.val_tokens, "fingerprint": runs.attempts[0].data_fingerprint},
        "config": {"sweep": runs.sweep.name, "config_id": runs.config_id, "env": runs.env()},
        "script_sha256": runs.candidate.script_sha256,
        "generated_by": "pgolf promote",
    }
    return info


def requirements(script: Path) -> str:
    """The third-party packages the script imports, pinned to the versions installed here."""
    try:
        tree = ast.parse(script.read_text(encoding="utf-8"))
    except SyntaxError:
        return "# could not parse train_gpt.py to list its imports\n"
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    owners = metadata.packages_distributions()
    lines = ["# third-party imports of train_gpt.py, at the versions the sweep ran with"]
    for module in sorted(modules - set(sys.stdlib_module_names) - {"__future__"}):
        for dist in owners.get(module, [module]):
            try:
                lines.append(f"{dist}=={metadata.version(dist)}")
            except metadata.PackageNotFoundError:
                lines.append(dist)
    return "\n".join(dict.fromkeys(lines)) + "\n"


def record_folder(verdict: Verdict, folder: str) -> str:
    """Where the records folder goes in the parameter-golf repository."""
    return f"records/{TRACK_DIRS.get(verdict.track, 'track_' + verdict.track)}/{folder}"


def reproduce_command(runs: ConfigRuns, script_dir: str, seed: str = "$SEED") -> str:
    """The shell command that re-runs one seed of this config from the parameter-golf repository root.

    Data paths are the repository's relative layout (`data/datasets/<dir>`, `data/tokenizers/<file>`,
    as `data/cached_challenge_fineweb.py` writes them): never a path of the machine the sweep ran on."""
    env = runs.env()
    data = f"./data/datasets/{runs.space.data_path.name}/" if runs.space else "./data/datasets/<dataset dir>/"
    tokenizer = (f"./data/tokenizers/{runs.space.tokenizer_path.name}" if runs.space
                 else "./data/tokenizers/<tokenizer .model>")
    nproc = runs.space.nproc if runs.space else 8
    assignments = [f"{k}={shlex.quote(v)}" for k, v in sorted(env.items())]
    assignments += [f"DATA_PATH={shlex.quote(data)}", f"TOKENIZER_PATH={shlex.quote(tokenizer)}", f"SEED={seed}"]
    script = shlex.quote(f"{script_dir}/{SCRIPT_NAME}")
    return " \\\n".join(assignments + [f"torchrun --standalone --nproc_per_node={nproc} {script}"])


def readme(runs: ConfigRuns, verdict: Verdict, info: dict[str, Any], *, folder: str, blurb: str = "",
           refusals: Sequence[str] = ()) -> str:
    """README.md of the records folder (a draft's leads with DRAFT and the reasons it was refused)."""
    seeds = sorted(runs.candidate.seeds, key=lambda s: s.seed)
    n = len(seeds)
    std = f", std {info['val_bpb_std']:.8f}" if "val_bpb_std" in info else ""
    fp = seeds[0].fingerprint
    swept = set(runs.attempts[-1].params)
    config_rows = [[k, v, "swept" if k in swept else "fixed"] for k, v in sorted(runs.env().items())]
    seed_list = ", ".join(str(s.seed) for s in seeds)
    draft = ["**DRAFT: refused by `pgolf promote`, not a submission.** Why:", "",
             *[f"- {reason}" for reason in refusals], ""] if refusals else []
    parts = [
        f"# {'DRAFT (refused): ' if refusals else ''}{verdict.name}", "", *draft,
        *([" ".join(blurb.split()), ""] if blurb.strip() else []),
        (f"**val_bpb: {info['val_bpb']:.8f}** ({n}-seed mean{std}) | val_loss {info['val_loss']:.8f} nats per token"
        f" | largest artifact {info['bytes_total'] or 0:,} bytes | track {verdict.track}"), "",
        (f"Promoted by `pgolf promote` from sweep `{runs.sweep.name}`, config `{runs.config_id}`. Every seed run "
        f"for this config is reported ({seed_list}); the figures below are read from the train logs in this folder."),
        "", "## Results", "", markdown_table(seed_table(verdict)), "",
        f"Mean val_bpb {info['val_bpb']:.8f}{std}; mean val_loss {info['val_loss']:.8f} nats.", "",
        "## Significance", "", verdict.significance.statement, "",
        (f"Units: val_loss is nats per token and val_bpb bits per byte. These runs were scored on {fp.name}; "
        f"val_loss / val_bpb = {fp.ratio:.6f}, so 0.005 nats = {0.005 / fp.ratio:.5f} bpb here."), "",
        "## Budgets", "", markdown_table(budget_table(verdict)), "",
        "## Configuration", "", markdown_table((["env", "value", ""], config_rows)), "",
        "## Reproduce", "", (f"Run once per seed from the parameter-golf repository root, with this folder copied to "
                             f"`{record_folder(verdict, folder)}/` and the dataset fetched by `data/cached_challenge_fineweb.py`:"),
        "", "```bash", reproduce_command(runs, record_folder(verdict, folder)), "```", "", f"Seeds: {seed_list}.", "",
        "## Files", "",
        f"- `{SCRIPT_NAME}`: the exact script that ran (sha256 `{runs.candidate.script_sha256}`)",
        *[f"- `{runs.logs[s.seed].path}`: train log of seed {s.seed}" for s in seeds],
        "- `submission.json`: leaderboard metadata, per-seed results, compliance",
        "- `requirements.txt`: third-party packages the script imports",
        "- `candidate_report.html` / `candidate_report.md`: record-candidate report with charts", "",
    ]
    return "\n".join(parts)
