"""The sweep driver: Ray set-up, the two seed stages, `pgolf seeds`, and resume.

Stages. `screen` runs every config on `seeds[0]` (grid/random configs are planned up front and
preflighted, so a config surely over the byte limit gets a `skipped` row and no trial, and one
that may not fit runs with a printed and recorded warning; Optuna configs are preflighted inside
their trial; the space's `preflight: skip|warn|off` decides). `replicate` then runs the best
`replicate_top_k` screened configs with no known budget violation on the remaining seeds
(`replicate: sequential`: one seed per round until `sweeper.records.outlook.SeedPlanner` passes or
stops the config). `manual` is `pgolf seeds`.

Resume is ledger-driven rather than `Tuner.restore`: the plan is deterministic (config ids are
hashes of the env, random draws come from `search.seed`), an attempt is `<config_id>-s<seed>`, and
a resumed driver runs only the planned attempts without a terminal row. A row left `running` by a
killed driver whose trial had already written `outcome.json` is completed from that file, so no
finished trainer is ever re-run. Optuna is warm-started with the configs already scored and draws
`samples` minus the distinct configs screened so far (a config Optuna draws twice runs once; its
twin trial re-reports the result).
"""

from __future__ import annotations

import itertools
import os
import random
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from sweeper.candidates import Candidate, gpu_hours, rank_candidates
from sweeper.data.check import dataset_fingerprint
from sweeper.errors import UsageError
from sweeper.ledger import AttemptRow, ConfigRow, Ledger, Stage, SweepRow
from sweeper.preflight import Decision, script_sha256, sweep_preflight
from sweeper.records.outlook import SeedPlanner
from sweeper.records.schema import SignificancePolicy
from sweeper.space import PreflightMode, SearchSpace, parse_space
from sweeper.space_params import ChoiceParam, IntParam, LogUniformParam, UniformParam
from sweeper.space_yaml import read_space_text
from sweeper.sweepdir import SweepDir, SweepLock, claim_sweep_dir, resolve_sweep, sweep_name_problem
from sweeper.tune.attempt import LOCK_FILE, Job, TrialContext, attempt_id, read_outcome
from sweeper.tune.proctree import reap_recorded
from sweeper.tune.progress import ProgressCallback
from sweeper.tune.recording import AttemptRecorder, LedgerCallback
from sweeper.tune.session import ray_session
from sweeper.tune.trial import TrainerTrial
from sweeper.wandb_env import api_key_available, resolve_mode

TERMINAL = ("finished", "failed", "skipped")
MAX_INFRA_RETRIES = 2  # re-runs of a trial whose node or actor was lost (trainer failures never retry)


class SweepReport(BaseModel):
    """What a driver run leaves: where, how many attempts per status, the ranking, completeness."""

    sweep: str
    path: Path
    counts: dict[str, int]
    candidates: list[Candidate]
    complete: bool
    gpu_hours: float = 0.0  # every attempt of the sweep so far (nproc x wall)


def planned_configs(space: SearchSpace) -> list[dict[str, Any]]:
    """The screen stage's configs for grid/random search (deterministic: `search.seed`)."""
    points = space.grid_points()
    if space.search.algorithm == "grid":
        return points
    rng = random.Random(space.search.seed)
    return [{**point, **space.sample(rng)} for point in points for _ in range(space.search.draws)]


def optuna_domains(space: SearchSpace) -> dict[str, Any]:
    """The swept params as Tune domains (Optuna has no grid axes; `space` rejects them)."""
    from ray import tune

    domains: dict[str, Any] = {}
    for key, p in space.params.items():
        if isinstance(p, ChoiceParam):
            domains[key] = tune.choice(p.values)
        elif isinstance(p, UniformParam):
            domains[key] = tune.uniform(p.low, p.high)
        elif isinstance(p, LogUniformParam):
            domains[key] = tune.loguniform(p.low, p.high)
        elif isinstance(p, IntParam) and p.log:
            domains[key] = tune.lograndint(p.low, p.high + 1)
        elif isinstance(p, IntParam):
            domains[key] = tune.qrandint(p.low, p.values()[-1], p.step)
    return domains


class Driver:
    """One sweep directory's driver (needs an initialised Ray; see `ray_session`); a context manager
    that closes the ledger."""

    def __init__(self, sweep: SweepDir, space: SearchSpace, console: Console) -> None:
        self.sweep, self.space, self.console = sweep, space, console
        self.ledger = Ledger(sweep.ledger_path)
        self.ledger.add_sweep(SweepRow(name=sweep.name, space_yaml=space.to_yaml()))
        sha = script_sha256(space.script)
        self.context = TrialContext(
            sweep=sweep.name, sweep_dir=sweep.path.resolve(), space=space, script_sha256=sha,
            data_fingerprint=dataset_fingerprint(space.data_path, space.tokenizer_path),
            wandb_mode=resolve_mode(space.wandb.mode, os.environ))
        if self.context.wandb_mode == "online" and not api_key_available(os.environ):
            console.print("[yellow]note:[/] W&B mode online but no API key found (WANDB_API_KEY, ~/.netrc): "
                          "runs fall back to offline if W&B refuses them; `pgolf sync` uploads them later",
                          highlight=False)
        self.recorder = AttemptRecorder(self.ledger, self.context)
        # This driver holds the sweep's lock, so an earlier driver is dead. Its trials' locks go first (a
        # trial still dying then records no outcome), then what is left of their trainers, which may be
        # ranks in their own sessions (this node; a relaunch on another node reaps there).
        for trial_dir in sweep.trials_dir.glob("*/"):
            (trial_dir / LOCK_FILE).unlink(missing_ok=True)
            reap_recorded(trial_dir)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.ledger.close()

    # -- stages ----------------------------------------------------------------------------------
    def run(self) -> SweepReport:
        """Screen, then replicate; stops early (complete=False) if a stage was interrupted."""
        if self.screen() and self.replicate():
            return self.report(complete=True)
        return self.report(complete=False)

    def screen(self) -> bool:
        seed = self.space.seeds[0]
        if self.space.search.algorithm == "optuna":
            return self._screen_optuna(seed)
        mode = self.space.preflight
        preflight = None if mode == "off" else sweep_preflight(self.space, self.sweep.path.parent,
                                                                self.context.data_fingerprint)
        jobs = []
        for params in planned_configs(self.space):
            decision = preflight.decide(params, mode) if preflight else Decision()
            job = Job(params=params, seed=seed, stage="screen", preflight_warning=decision.warning)
            notice = f"skipped: {decision.skip_reason}" if decision.skip_reason else decision.warning
            if notice and self._row(job) is None:  # said once, not again on resume
                self.console.print(Text(f"{self.space.config_id(params)} {notice}", style="yellow"))
            if decision.skip_reason is None:
                jobs.append(job)
            elif self._row(job) is None:
                self.recorder.skipped(job, decision.skip_reason)
        return self._run_jobs("screen", jobs)

    def replicate(self) -> bool:
        top = [c for c in self._screen_ranking() if all(b.ok is not False for b in c.budgets.values())]
        if self.space.replicate == "sequential":
            return self._replicate_sequentially(top[: self.space.replicate_top_k])
        jobs = [Job(params=c.params, seed=seed, stage="replicate")
                for c in top[: self.space.replicate_top_k] for seed in self.space.seeds[1:]]
        return self._run_jobs("replicate", jobs)

    def _replicate_sequentially(self, configs: list[Candidate]) -> bool:
        """Rounds of one new seed per config that the seed-economy rule still wants (sweeper.seeds)."""
        planner = SeedPlanner(self.space.sota or "", SignificancePolicy.named(self.space.policy), self.space.max_seeds)
        while True:
            rows = {c.config_id: self.ledger.attempts(config_id=c.config_id, sweep=self.sweep.name) for c in configs}
            wanted = [c for c in configs if planner.decide(rows[c.config_id]).another_seed]
            # an attempt a killed driver left unfinished is re-run (resume) before any fresh seed
            unfinished = {c.config_id: [r.seed for r in rows[c.config_id] if r.status not in TERMINAL] for c in wanted}
            jobs = [Job(params=c.params, seed=(unfinished[c.config_id] or self._fresh_seeds(c.config_id, 1))[0],
                        stage="replicate") for c in wanted]
            if not jobs:
                return True
            if not self._run_jobs("replicate", jobs):
                return False

    def _fresh_seeds(self, config_id: str, n: int) -> list[int]:
        """`n` seeds this config has not run: the space's first, then 1, 2, ..."""
        used = {row.seed for row in self.ledger.attempts(config_id=config_id)}
        return list(itertools.islice((s for s in itertools.chain(self.space.seeds, itertools.count(1))
                                      if s not in used), n))

    def add_seeds(self, config: ConfigRow, n: int) -> bool:
        """`pgolf seeds`: `n` more seeds for one config (the space's unused seeds first, then 1, 2, ...)."""
        seeds = self._fresh_seeds(config.config_id, n)
        return self._run_jobs("manual", [Job(params=config.params, seed=s, stage="manual") for s in seeds])

    def report(self, complete: bool) -> SweepReport:
        rows = self.ledger.attempts(sweep=self.sweep.name)
        counts = {status: sum(r.status == status for r in rows) for status in ("finished", "failed", "skipped",
                                                                              "running", "pending")}
        return SweepReport(sweep=self.sweep.name, path=self.sweep.path, counts=counts,
                           candidates=rank_candidates(rows, self.space.limits), complete=complete,
                           gpu_hours=round(sum(gpu_hours(rows).values()), 4))

    # -- running jobs ----------------------------------------------------------------------------
    def _attempt_id(self, job: Job) -> str:
        return attempt_id(self.space.config_id(job.params), job.seed)

    def _row(self, job: Job) -> AttemptRow | None:
        return self.ledger.attempt(self._attempt_id(job))

    def _pending(self, jobs: list[Job]) -> list[Job]:
        """Jobs without a terminal row; a `running` row whose trial left an outcome is completed here."""
        todo = []
        for job in jobs:
            row = self._row(job)
            if row is not None and row.status in TERMINAL:
                continue
            outcome = read_outcome(self.sweep.trial_dir(self._attempt_id(job)))
            if row is not None and outcome is not None:
                self.recorder.finished(job, outcome)
                continue
            todo.append(job)
        return todo

    def _run_jobs(self, stage: Stage, jobs: list[Job]) -> bool:
        todo = self._pending(jobs)
        if todo:
            from ray import tune

            self._fit(stage, {"job": tune.grid_search([job.model_dump() for job in todo])}, num_samples=1)
        return not self._pending(jobs)

    def _screen_optuna(self, seed: int) -> bool:
        from ray.tune.search.optuna import OptunaSearch

        done = [r for r in self.ledger.attempts(sweep=self.sweep.name, stage="screen") if r.status in TERMINAL]
        remaining = self.space.screen_size() - len(done)
        if remaining > 0:
            scored = [r for r in done if r.status == "finished" and r.val_bpb is not None]
            points = [{f"job/params/{k}": v for k, v in r.params.items()} for r in scored]
            searcher = OptunaSearch(seed=self.space.search.seed, points_to_evaluate=points or None,
                                    evaluated_rewards=[r.val_bpb for r in scored] or None)
            space = {"job": {"params": optuna_domains(self.space), "seed": seed, "stage": "screen"}}
            # Complete when every draw ended: Optuna may draw a config twice (its twin re-reports).
            return self._fit("screen", space, num_samples=remaining, search_alg=searcher, preflight_in_trial=True)
        return True

    def _fit(self, stage: Stage, param_space: dict[str, Any], num_samples: int, search_alg: Any = None,
             preflight_in_trial: bool = False) -> bool:
        """Run one Tuner; True if every trial ended (False: interrupted)."""
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler

        asha = self.space.asha if stage == "screen" else None
        scheduler = None if asha is None else ASHAScheduler(
            time_attr=asha.time_attr, max_t=asha.max_t, grace_period=asha.grace_period,
            reduction_factor=asha.reduction_factor, stop_last_trials=False)
        context = self.context.model_copy(update={"preflight_in_trial": preflight_in_trial})
        resources: dict[str, float] = {"cpu": self.space.resources.cpus, "gpu": self.space.resources.gpus}
        trainable = tune.with_resources(tune.with_parameters(TrainerTrial, context=context), resources)
        progress = ProgressCallback(self.ledger, self.sweep.name, stage, self.console)
        tuner = tune.Tuner(
            trainable, param_space=param_space,
            tune_config=tune.TuneConfig(
                metric="val_bpb", mode="min", num_samples=num_samples, search_alg=search_alg, scheduler=scheduler,
                max_concurrent_trials=self.space.search.max_concurrent, reuse_actors=scheduler is None),
            run_config=tune.RunConfig(
                name=stage, storage_path=str(self.sweep.tune_dir.resolve()), verbose=0,
                callbacks=[LedgerCallback(self.recorder), progress],
                failure_config=tune.FailureConfig(max_failures=MAX_INFRA_RETRIES),
                checkpoint_config=tune.CheckpointConfig(checkpoint_frequency=0, checkpoint_at_end=False)))
        try:
            results = tuner.fit()
        finally:
            progress.close()
        return bool(results.num_terminated + results.num_errors == len(results))

    def _screen_ranking(self) -> list[Candidate]:
        return rank_candidates(self.ledger.attempts(sweep=self.sweep.name, stage="screen"), self.space.limits)


def open_sweep(space: SearchSpace, root: Path, name: str | None, resume: bool,
               console: Console) -> tuple[SweepDir, SearchSpace]:
    """The sweep directory and the space to run: a new directory, or the stored space on resume.

    `space` must be resolved (absolute paths); a resumed sweep keeps the space it started with."""
    if not resume:
        space.check_paths()
        sweep = claim_sweep_dir(root, name or space.name).create()
        sweep.space_yaml.write_text(space.to_yaml())
        return sweep, space
    sweep = resolve_sweep(name or space.name, root)
    stored = parse_space(read_space_text(sweep.space_yaml), source=str(sweep.space_yaml))
    if stored != space:
        console.print("[yellow]note:[/] " + escape(f"space {space.name} changed since sweep {sweep.name} started; "
                                                   f"resuming with the stored {sweep.space_yaml}"), highlight=False)
    stored.check_paths()
    return sweep, stored


def run_sweep(space: SearchSpace, root: Path, *, name: str | None = None, address: str | None = None,
              resume: bool = False, console: Console | None = None,
              preflight: PreflightMode | None = None) -> SweepReport:
    """`pgolf sweep`: run (or resume) a sweep of a resolved space end to end; `preflight` overrides
    the space's mode for this run (space.yaml keeps the space's own)."""
    console = console or Console()
    problem = None if name is None else sweep_name_problem(name)
    if problem:  # before Ray starts or anything is written
        raise UsageError(f"--name {problem}")
    sweep, space = open_sweep(space, root, name, resume, console)
    if preflight is not None:
        space = space.model_copy(update={"preflight": preflight})
    with _set_up(sweep, space, console, address, created=not resume) as driver:
        return driver.run()


@contextmanager
def _set_up(sweep: SweepDir, space: SearchSpace, console: Console, address: str | None,
            created: bool) -> Iterator[Driver]:
    """The sweep's one-driver lock, then the starting line, Ray and a Driver; a new sweep that fails
    before its Driver exists (no Ray cluster at `address`, unreadable data) leaves no folder behind
    (the next try keeps its name)."""
    try:
        with SweepLock(sweep):
            _starting(console, sweep)
            with ray_session(address):
                driver = Driver(sweep, space, console)
                created = False
                with driver:
                    yield driver
    finally:
        if created:
            shutil.rmtree(sweep.path, ignore_errors=True)


def add_seeds(sweep_ref: str | None, root: Path, config_id: str, n: int, *, address: str | None = None,
              console: Console | None = None) -> SweepReport:
    """`pgolf seeds`: run `n` more seeds of one config of an existing sweep."""
    console = console or Console()
    sweep = resolve_sweep(sweep_ref, root)
    with Ledger(sweep.ledger_path, create=False) as ledger:
        configs = ledger.configs()
    config = next((c for c in configs if c.config_id == config_id), None)
    if config is None:
        known = ", ".join(c.config_id for c in configs) or "none"
        raise UsageError(f"--config {config_id}: no such config in sweep {sweep.name} (configs: {known})")
    space = parse_space(read_space_text(sweep.space_yaml), source=str(sweep.space_yaml))
    space.check_paths()
    with _set_up(sweep, space, console, address, created=False) as driver:
        return driver.report(complete=driver.add_seeds(config, n))


def _starting(console: Console, sweep: SweepDir) -> None:
    """The live view's first line, before the slow start (Ray, data fingerprint, preflight)."""
    console.print(f"sweep {sweep.name}: starting Ray, the data fingerprint and the preflight", markup=False,
                  highlight=False, soft_wrap=True)
