"""The automatic search: the smallest (or fastest) candidate within an accuracy budget.

It drives the orchestrator's own jobs, so every trial is a candidate like any other (on
the plots as it finishes, exported, reported), and Optuna's ask-and-tell interface
chooses what to try (multivariate TPE with a fixed seed, the budget as a constraint).
In order:

1. the float baseline on the *search* half of the evaluation samples
   (`studio.values.splits`);
2. at once: what is known — each layer pruned / clustered alone (the sensitivity pass)
   and the int8 error per layer (the diagnosis), which decide the per-layer parameters
   and which layers start spared (`studio.values.autotune.Space`) — and every
   post-training mode (seconds each, no knowledge needed), the study's first trials;
3. the obvious fine-tuned settings with the smallest mode that fit, enqueued;
4. TPE's proposals.  A pruned setting is first fine-tuned for a third of the usual
   steps; only one that would be the new best and came close to the budget gets the
   full fine-tune (two rungs of successive halving).  Every fine-tune is also converted
   with the two best other post-training modes that fit ("siblings", one job as in a
   sweep), told to Optuna as trials of their own.

Trials run in batches of as many as the backend runs at once and are told to Optuna
in trial order, so the same seed gives the same trials.  The search stops at its time
limit (running trials are cancelled; time for the final check is kept back), after
`max_trials`, when `patience` asked trials in a row found nothing better, or when a
small space is measured whole.  The best few within the budget are then measured again,
with the float model, on the held-out half; the first still within the budget there
is the answer, otherwise the float model is.  `autotune.json` in the session folder
is rewritten after every batch: a crash or a cancel keeps every finished trial.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from studio.orchestrator.handles import Handle, JobFailed
from studio.values import atomic, modes, splits, units
from studio.values import autotune as values
from studio.values.autotune import Knowledge, Report, Settings, Space, Trial
from studio.values.grid import slug
from studio.values.metrics import MAE, Metrics
from studio.values.recipe import Quantization, Recipe
from studio.values.session import Session

if TYPE_CHECKING:
    import optuna

    from studio.orchestrator.orchestrator import Orchestrator

FILE = "autotune.json"
CANCELLED = "cancelled by the user"
POST = "post-training"  # the phase of the modes measured first
SIBLINGS = 2  # other post-training modes converted with each fine-tune (see _siblings)
WORKER_START_S = 8.0  # a fresh worker process importing TensorFlow, on a 2-core laptop
FINALISTS = 3  # the best within the budget measured on held-out data, at a time
CHECK_ROUNDS = 3  # rounds of finalists when none of the round before held there
RECOVERABLE = 2.0  # a short fine-tune's loss a full one can win back, in budgets (>= 1 pt)


class Search:
    """One automatic search in the orchestrator's current session (see the module)."""

    def __init__(
        self,
        orchestrator: Orchestrator,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.orch = orchestrator
        self.settings = settings
        self.objective = values.OBJECTIVES[settings.objective]
        self.clock = clock
        self.handle = Handle("the automatic search", cancel=lambda _: self.cancel())
        self.session: Session | None = None
        self.space: Space | None = None
        self.trials: list[Trial] = []
        self.report: Report | None = None
        self.stopped = ""
        self.phase = "starting"  # what the job list says it is doing
        self._study: optuna.Study | None = None
        self._asked: dict[int, optuna.trial.Trial] = {}
        self._seen: dict[Any, Trial] = {}  # measured recipes (effective) -> their trial
        self._running: list[Handle] = []
        self._started = 0.0
        self._since_better = 0
        self._repeats = 0
        self._reserve = 0.0  # seconds kept for the held-out check
        self._distinct: int | None = None
        self._prefix: dict[int, str] = {}  # siblings' folder prefixes, by placeholder
        self._sibling_ids = 0  # placeholder numbers (negative) of siblings not told yet
        self._untick: Callable[[], None] = lambda: None

    # -- what callers use -------------------------------------------------------------

    def start(
        self,
        model: str,
        data: str,
        *,
        trust: bool = False,
        folder: Any = None,
        keep_running: bool = False,
    ) -> Handle:
        """A new session on `model` and the search part of `data`; the handle's value
        is the `Report` once the held-out check is done."""
        self._started = self.clock()
        self.session = Session.create(
            model,
            splits.with_part(splits.whole(data), splits.SEARCH),
            root=self.orch.sessions_root,
            folder=folder,
            trust=trust,
            baseline_folder="",
        )
        self.session.set_budget(self.settings.budget)
        self.phase = "measuring the float model"
        baseline = self.orch.start(self.session, keep_running=keep_running)
        self.orch.search = self
        self._untick = self.orch.every_tick(self._guarded(self._tick))
        baseline.add_done_callback(self._guarded(self._baseline_done))
        self._changed()
        return self.handle

    def cancel(self) -> None:
        """Stop: running trials are cancelled, finished ones kept (no held-out check)."""
        if self.handle.done() or self.stopped == CANCELLED:
            return
        self.stopped = CANCELLED
        if self.session is not None and self.session.baseline is None:
            self.orch.cancel_all()  # the float baseline: its end finishes the search
            return
        running = list(self._running)
        for handle in running:
            handle.cancel()
        if not running:
            self._finish(check=False)

    @property
    def deadline(self) -> float:
        """When trials stop: the time limit less what the held-out check will take."""
        return self._started + self.settings.time_limit_s - self._reserve

    def progress(self) -> tuple[int, int, float]:
        """(trials measured, about how many it will run, seconds left)."""
        now = self.clock()
        left = max(0.0, self.deadline - now)
        n = self._measured()
        if n and now > self._started:
            rate = n / (now - self._started)
            about = n + int(rate * left)
        else:
            about = self.settings.max_trials
        return n, max(n, min(self.settings.max_trials, about)), left

    def status(self) -> str:
        """One line for the job list ("searching: trial 7 of about 25, 12:30 left")."""
        n, about, left = self.progress()
        return f"{self.phase}: trial {n} of about {about}, {units.clock(left)} left"

    def summary(self) -> tuple[str, list[str], str | None]:
        """What the window's search tab shows: a status line, the explanation's lines
        (the best so far while it runs) and the answer's candidate name."""
        if self.report is not None:
            return "", values.explain(self.report), self.report.winner
        if self.handle.done():
            return f"The search stopped: {self.stopped}", [], None
        lines, best = [], values.ranked(self.trials)
        base = self.session.baseline if self.session else None
        if best and base is not None:
            b = best[0]
            lines.append(
                f"Best within the budget so far: {b.name}, {b.recipe.describe()} — "
                f"{self.objective.text(b.value)}, {values.loss_text(b.loss, base)} (checked "
                f"on held-out samples at the end)."
            )
        done = [t for t in self.trials if t.status == "done"]
        if done:
            within = sum(1 for t in done if t.feasible)
            lines.append(f"Measured {len(done)} setting(s), {within} within the budget.")
        return self.status(), lines, best[0].name if best else None

    # -- knowledge ----------------------------------------------------------------------

    def _baseline_done(self, baseline: Handle) -> None:
        try:
            baseline.result()
        except JobFailed as err:
            self.stopped = self.stopped or f"the float baseline failed: {err}"
            self._settle(None, None)
            return
        session = self.session
        summary = session.summary
        labeled = session.baseline.accuracy is not None
        if session.baseline.metric == MAE and labeled:  # the session's budget is in MAE
            session.set_budget(session.baseline.accuracy * self.settings.budget / 100)
        usable = not summary.limitation
        knowledge = Knowledge(
            prunable=tuple(summary.names("prunable")) if usable else (),
            clusterable=tuple(summary.names("clusterable")) if usable else (),
            train_samples=summary.data.train if summary.data else 0,
            labeled=labeled and usable,
            weights={layer.name: layer.params for layer in summary.layers},
        )
        # Time kept for the held-out check at the end: a worker started again (trials
        # cancelled at the limit take theirs down), loading, and measuring the finalists
        # and the float model as long as measuring the float model took.
        seconds = session.baseline.seconds
        self._reserve = (
            WORKER_START_S
            + seconds.get("load", 0.0)
            + (FINALISTS + 1) * seconds.get("evaluate", 0.0)
        )
        self.phase = "looking at each layer, post-training modes"
        self._changed()
        # The passes and the post-training modes (which need no knowledge) at once: the
        # modes are seconds each, and run while the other worker measures each layer.
        passes: dict[str, Handle] = {}
        if knowledge.labeled and (knowledge.prunable or knowledge.clusterable):
            passes["sensitivity"] = self.orch.sensitivity(reuse=True)
        post = [
            Trial(i, {"mode": m.name}, Recipe(quantization=Quantization(mode=m.name)), POST)
            for i, m in enumerate(modes.usable())
        ]
        self.trials += post
        self._running = list(passes.values())
        measured = Handle("post-training modes")
        self._submit(post, rung=0, then=lambda: measured.settle())
        if usable:
            passes["diagnosis"] = self.orch.diagnose()
            self._running.append(passes["diagnosis"])
        waits = [*passes.values(), measured]

        def ended(_: Handle) -> None:
            if not all(h.done() for h in waits):
                return
            for handle in passes.values():
                with contextlib.suppress(ValueError):
                    self._running.remove(handle)
            if self.stopped:
                self._finish(check=self.stopped != CANCELLED)
                return
            found: dict[str, Any] = {}
            for name, handle in passes.items():
                try:
                    found[name] = tuple(handle.result())
                except JobFailed as err:
                    self.orch.log.emit(f"the search goes on without the {name}: {err}")
            self._begin(dataclasses.replace(knowledge, **found))

        for handle in waits:
            handle.add_done_callback(self._guarded(ended))

    # -- trials ---------------------------------------------------------------------------

    def _begin(self, knowledge: Knowledge) -> None:
        """The space from what is known; the post-training modes measured meanwhile
        are its first trials; then the seeded settings and the sampler's."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space = Space.build(knowledge)
        self._distinct = self.space.distinct()  # a small space ends when all is measured
        sampler = optuna.samplers.TPESampler(
            seed=self.settings.seed,
            multivariate=True,
            n_startup_trials=8,
        )
        self._study = optuna.create_study(direction="minimize", sampler=sampler)
        for t in self._post_training():
            self._add(dataclasses.replace(t, params=self.space.defaults(mode=t.params["mode"])))
        self._save()
        self._after(POST)

    def _enqueue(self, **params: Any) -> None:
        full = self._encoded(self.space.defaults(**params))
        self._study.enqueue_trial(full, skip_if_exists=True)

    def _seed_fine_tuned(self) -> None:
        """After the post-training modes: the obvious fine-tuned settings, with the
        smallest mode within the budget (else int8 with QAT, which wins accuracy back)."""
        best = values.ranked(self._post_training())
        dims = {d.name for d in self.space.dimensions}
        choices = self.space.dimension("mode").choices
        if best:
            mode = best[0].recipe.quantization.mode
        else:  # none fit: the mode QAT makes, to win accuracy back by training
            mode = next((m for m in choices if values.qat_allowed(m)), choices[0])
            if "qat" in dims:
                self._enqueue(mode=mode, qat=True)
        if "sparsity" in dims:
            self._enqueue(mode=mode, sparsity=0.5)
        if "clusters" in dims:
            self._enqueue(mode=mode, clusters=16)
        if "sparsity" in dims and "clusters" in dims:
            self._enqueue(mode=mode, sparsity=0.5, clusters=16)
        worst = [d.name for d in self.space.dimensions if d.name.startswith(values.FLOAT)]
        if worst:  # the layer int8 hurts most in float, if this mode can keep one so
            params = self.space.defaults(mode=mode, **{worst[0]: True})
            if self.space.recipe(params).quantization.float_layers:
                self._enqueue(**params)

    def _params(self, trial: optuna.trial.Trial) -> dict[str, Any]:
        out = {}
        for d in self.space.dimensions:
            if d.ordered:
                out[d.name] = d.choices[trial.suggest_int(d.name, 0, len(d.choices) - 1)]
            else:
                out[d.name] = trial.suggest_categorical(d.name, list(d.choices))
        return out

    def _run_batch(self, phase: str) -> None:
        """Ask as many trials as run at once, run those not measured before, and tell
        them all (in trial order) once the batch has ended."""
        if (reason := self._should_stop()) is not None:
            self.stopped = reason
            self._finish(check=True)
            return
        self.phase = "searching"
        size = min(max(1, self.orch.workers), self.settings.max_trials - self._measured())
        batch: list[Trial] = []
        for _ in range(max(1, size)):
            asked = self._study.ask()
            params = self._params(asked)
            self._asked[asked.number] = asked
            recipe = self.space.recipe(params, short=True)
            trial = Trial(asked.number, params, recipe, phase)
            earlier = self._seen.get(recipe.effective())
            if earlier is not None:  # the same recipe as a trial before: its figures
                trial = dataclasses.replace(
                    earlier, number=asked.number, params=params, phase=phase, status="repeat"
                )
            batch.append(trial)
            self.trials.append(trial)
        new = [t for t in batch if t.status != "repeat"]
        self._repeats = 0 if new else self._repeats + len(batch)
        siblings = self._siblings(new, phase)
        batch += siblings
        self.trials += siblings
        new += siblings
        self._changed()
        if not new:
            self._next(batch, phase)
            return
        self._submit(new, rung=0, then=lambda: self._rung_done(batch, phase))

    def _siblings(self, trials: list[Trial], phase: str) -> list[Trial]:
        """Each fine-tuned trial converted also with the best other post-training
        modes within the budget: they share its fine-tune (one job, as in a sweep), so
        the search sees the mode axis almost free.  Told to Optuna as trials of their
        own once measured (numbered then)."""
        fitting = [t.recipe.quantization.mode for t in values.ranked(self._post_training())]
        out: list[Trial] = []
        wanted = {t.recipe.effective() for t in trials}
        for t in trials:
            if not (t.recipe.pruning or t.recipe.clustering) or t.recipe.quantization.qat:
                continue
            others = [m for m in fitting if m != t.params["mode"]][:SIBLINGS]
            for letter, mode in zip("bcdefgh", others, strict=False):
                params = {**t.params, "mode": mode}
                recipe = self.space.recipe(params, short=True)
                key = recipe.effective()
                if key in wanted or key in self._seen:
                    continue
                wanted.add(key)
                self._sibling_ids -= 1
                self._prefix[self._sibling_ids] = f"{self._prefix_of(t)}{letter}"
                out.append(Trial(self._sibling_ids, params, recipe, phase, shared=True))
        return out

    def _prefix_of(self, t: Trial) -> str:
        """A trial's folder prefix in the CLI: "t05", its siblings "t05b", "t05c"."""
        return self._prefix.get(t.number, f"t{t.number + 1:02d}")

    def _post_training(self) -> list[Trial]:
        return [t for t in self.trials if t.phase == POST]

    def _submit(self, trials: list[Trial], *, rung: int, then: Callable[[], None]) -> None:
        recipes = [self.space.recipe(t.params, short=False) if rung else t.recipe for t in trials]
        names = None
        if self.settings.trial_names:
            suffix = "-full" if rung else ""
            names = [
                f"{self._prefix_of(t)}-{slug(r.describe())}{suffix}"
                for t, r in zip(trials, recipes, strict=True)
            ]
        handle = self.orch.run_all(recipes, names)
        self._running.append(handle)
        session = self.session
        ids = dict(zip([t.number for t in trials], handle.candidate_ids, strict=True))
        by_number = {t.number: (t, r) for t, r in zip(trials, recipes, strict=True)}

        def ended(_: Handle) -> None:
            self._running.remove(handle)
            for number, cid in ids.items():
                trial, recipe = by_number[number]
                candidate = session.candidates[cid]
                earlier = (*trial.earlier, trial.name) if rung else ()
                measured = dataclasses.replace(
                    trial, name=candidate.name, recipe=recipe, rung=rung, earlier=earlier
                )
                if candidate.status == "done" and candidate.metrics is not None:
                    measured = values.outcome(
                        measured,
                        candidate.metrics,
                        session.baseline,
                        self.objective,
                        self.settings.budget,
                    )
                    self._seen[recipe.effective()] = measured
                    if rung:  # the short version's repeats get the full one's figures
                        self._seen[trial.recipe.effective()] = measured
                else:
                    status = "cancelled" if candidate.status == "cancelled" else "failed"
                    measured = dataclasses.replace(
                        measured, status=status, message=candidate.message
                    )
                self._replace(measured)
            self._changed()
            then()

        handle.add_done_callback(self._guarded(ended))

    def _rung_done(self, batch: list[Trial], phase: str) -> None:
        """Short fine-tunes measured: the promising ones get the full fine-tune."""
        promote = [] if self.stopped else [t for t in self._current(batch) if self._promising(t)]
        if not promote:
            self._next(batch, phase)
            return
        self.phase = "full fine-tune of the promising"
        self._changed()
        self._submit(promote, rung=1, then=lambda: self._next(batch, phase))

    def _next(self, batch: list[Trial], phase: str) -> None:
        """A batch ended: told to Optuna, then the next batch, or the end if stopped."""
        self._tell(self._current(batch))
        if self.stopped:
            self._finish(check=self.stopped != CANCELLED)
        else:
            self._after(phase)

    def _promising(self, t: Trial) -> bool:
        """Worth the full fine-tune: pruned with the short one, over the budget but
        close to it, and better than the best answer so far."""
        if t.status != "done" or t.feasible or t.recipe.pruning is None or t.rung:
            return False
        if t.recipe.pruning.epochs is None:  # already the full fine-tune
            return False
        slack = max(RECOVERABLE * self.settings.budget, 1.0)
        if t.loss is None or t.loss > self.settings.budget + slack:
            return False
        best = values.ranked(self.trials)
        return not best or t.value < best[0].value

    def _after(self, phase: str) -> None:
        from optuna.trial import TrialState

        if phase == POST:
            self._seed_fine_tuned()
            self._run_batch("seeded")
        else:
            enqueued = self._study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
            self._run_batch("seeded" if enqueued else "search")

    def _tell(self, batch: list[Trial]) -> None:
        """Each trial's outcome to Optuna, in trial order, then the siblings measured
        with them, in the order they were made (repeatable)."""
        import optuna

        best_before = values.ranked(t for t in self.trials if t not in batch)
        asked = sorted((t for t in batch if not t.shared), key=lambda t: t.number)
        for t in asked:
            trial = self._asked.pop(t.number)
            if t.status in ("done", "repeat") and t.value is not None:
                trial.set_constraint("budget", (t.loss or 0.0) - self.settings.budget)
                self._study.tell(trial, t.value)
            else:
                self._study.tell(trial, state=optuna.trial.TrialState.FAIL)
        for t in (t for t in batch if t.shared):
            self._add(t)
        best_after = values.ranked(self.trials)
        improved = best_after and (
            not best_before or best_after[0].value < best_before[0].value * (1 - 1e-3)
        )
        if improved:
            self._since_better = 0
        elif batch[0].phase == "search":
            # Only what the sampler asked counts: siblings come almost free.
            self._since_better += sum(1 for t in asked if t.status != "repeat")
        self._save()

    def _add(self, t: Trial) -> None:
        """A trial the sampler did not ask for (a post-training mode, a sibling), told
        as if it had, and numbered as the study numbers it."""
        import optuna

        if t.status == "done" and t.value is not None:
            told = optuna.trial.create_trial(
                params=self._encoded(t.params),
                distributions=self._distributions(),
                value=t.value,
                constraints={"budget": (t.loss or 0.0) - self.settings.budget},
            )
        else:  # failed or cancelled: numbered too, so no two trials share a number
            told = optuna.trial.create_trial(
                state=optuna.trial.TrialState.FAIL,
                params=self._encoded(t.params),
                distributions=self._distributions(),
            )
        self._study.add_trial(told)
        self._replace(t, dataclasses.replace(t, number=len(self._study.trials) - 1))

    def _should_stop(self) -> str | None:
        s = self.settings
        if self.stopped:
            return self.stopped
        if self.clock() >= self.deadline:
            return self._time_up()
        if self._measured() >= s.max_trials:
            return f"{s.max_trials} trials run (the most this search runs)"
        ended = [t for t in self.trials if t.status in ("done", "failed")]
        if len(ended) >= 4 and all(t.status == "failed" for t in ended):
            return f"its first {len(ended)} trials all failed ({ended[0].message})"
        if self._since_better >= s.patience:
            return f"nothing better in the last {self._since_better} trials"
        if self._distinct is not None and len(self._seen) >= self._distinct:
            return f"every setting there is was measured ({len(self._seen)})"
        if self._repeats >= 3 * s.patience:
            return "it kept proposing settings it had measured (the space is exhausted)"
        return None

    def _tick(self) -> None:
        """At the time limit, running trials are cancelled (finished ones are kept)."""
        if self.handle.done() or self.stopped or self.clock() < self.deadline:
            return
        if self.phase == "held-out check":  # seconds, and what makes the answer
            return
        self.stopped = self._time_up()
        running = list(self._running)
        for handle in running:
            handle.cancel()
        if not running:
            self._finish(check=self.space is not None)
        self._changed()

    # -- the answer -------------------------------------------------------------------------

    def _finish(self, *, check: bool) -> None:
        if self.report is not None or self.phase == "held-out check":
            return
        ranked = values.ranked(self.trials)[: FINALISTS * CHECK_ROUNDS] if check else []
        if not ranked:
            self._settle(None, None)
            return
        self.phase = "held-out check"
        self._changed()
        self._check(ranked, {})

    def _check(self, ranked: list[Trial], losses: dict[str, float]) -> None:
        """The next FINALISTS of `ranked` measured on the held-out half; if none stays
        within the budget there, the next ones (the best on the search half are the
        likeliest to be there by luck: many trials, one noisy half)."""
        finalists, rest = ranked[:FINALISTS], ranked[FINALISTS:]
        session = self.session
        by_name = {c.name: c.id for c in session.candidates.values()}
        data = splits.with_part(session.data, splits.HOLDOUT)
        handle = self.orch.score([by_name[t.name] for t in finalists], data)
        self._running.append(handle)

        def ended(_: Handle) -> None:
            self._running.remove(handle)
            try:
                measured: list[Metrics] = handle.result()
            except JobFailed as err:
                self.orch.log.emit(f"the held-out check failed: {err}")
                self.stopped = (self.stopped + "; " if self.stopped else "") + (
                    f"the held-out check failed ({err}), so no answer is reported as within "
                    f"the budget"
                )
                self._settle(None, None)
                return
            base, files = measured[0], measured[1:]
            pairs = list(zip(finalists, files, strict=True))
            losses.update({t.name: values.loss(m, base) for t, m in pairs})
            passed = [t for t, _ in pairs if values.fits(losses[t.name], self.settings.budget)]
            if self.settings.objective != "size":
                # Latencies measured apart rank noise: the finalists' latencies from this
                # one process, one after another, decide among them.
                again = {t.name: self.objective.read(m) for t, m in pairs}
                passed.sort(key=lambda t: again[t.name])
            if not passed and rest:
                self._check(rest, losses)
                return
            names = tuple(t.name for t in passed)
            holdout = values.Holdout(base.samples, base.accuracy, dict(losses), names)
            self._settle(names[0] if names else None, holdout)

        handle.add_done_callback(self._guarded(ended))

    def _settle(self, winner: str | None, holdout: values.Holdout | None) -> None:
        self._untick()
        if self.orch.search is self:
            self.orch.search = None
        self.phase = "done"
        if self.session is None or self.session.baseline is None:
            self._changed()
            self.handle.settle(error=JobFailed(f"the search stopped: {self.stopped}"))
            return
        self.report = self._report(winner, holdout)
        self._save()
        for line in values.explain(self.report):
            self.orch.log.emit(line)
        self._changed()
        self.handle.settle(self.report)

    def _report(self, winner: str | None = None, holdout: values.Holdout | None = None) -> Report:
        session = self.session
        return Report(
            settings=self.settings,
            unit=values.budget_unit(session.baseline) if session.baseline else "",
            threads=self.orch.threads,
            space=self.space or Space((), Knowledge((), (), 0, False)),
            trials=tuple(self.trials),
            baseline=session.baseline,
            winner=winner,
            holdout=holdout,
            stopped=self.stopped,
            seconds=self.clock() - self._started,
        )

    def _save(self) -> None:
        if self.session is None or self.session.baseline is None:
            return
        report = self.report or self._report()
        atomic.write_json(self.session.folder / FILE, report.to_dict())

    # -- small helpers ------------------------------------------------------------------

    def _guarded(self, callback: Callable[..., None]) -> Callable[..., None]:
        """`callback`, but a bug in it ends the search with what it found (its trials
        saved, the error said) rather than leaving it waiting forever in the window."""

        def call(*args: Any) -> None:
            try:
                callback(*args)
            except Exception as err:  # noqa: BLE001 - reported, then the search ends
                if self.handle.done():  # a late event of a search already ended
                    self.orch.log.emit(f"the automatic search, after its end: {err!r}")
                    return
                self.stopped = f"an internal error stopped it ({type(err).__name__}: {err})"
                self.orch.log.emit(f"the automatic search {self.stopped}")
                for handle in list(self._running):
                    handle.cancel()
                self._settle(None, None)

        return call

    def _time_up(self) -> str:
        return f"the time limit ({units.clock(self.settings.time_limit_s)}) was reached"

    def _measured(self) -> int:
        return sum(1 for t in self.trials if t.status in ("done", "failed"))

    def _replace(self, old: Trial, new: Trial | None = None) -> None:
        """A trial's record updated (`new`, else `old` as measured, by its number)."""
        new = new or old
        for i, t in enumerate(self.trials):
            if t.number == old.number:
                self.trials[i] = new

    def _encoded(self, params: dict[str, Any]) -> dict[str, Any]:
        """Parameters as Optuna holds them (ordered dimensions by index)."""
        return {
            d.name: d.choices.index(params[d.name]) if d.ordered else params[d.name]
            for d in self.space.dimensions
        }

    def _distributions(self) -> dict[str, Any]:
        from optuna.distributions import CategoricalDistribution, IntDistribution

        return {
            d.name: IntDistribution(0, len(d.choices) - 1)
            if d.ordered
            else CategoricalDistribution(list(d.choices))
            for d in self.space.dimensions
        }

    def _current(self, batch: list[Trial]) -> list[Trial]:
        numbers = {t.number for t in batch}
        return [t for t in self.trials if t.number in numbers]

    def _changed(self) -> None:
        self.orch.search_changed.emit()
        self.orch.activity_changed.emit()  # the job list's row says how far it is
