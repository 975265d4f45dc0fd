"""A session: one model, one data set, its float baseline and every candidate tried.

Everything lives in one folder, so a session survives a crash and can be reopened:

    session.json        model, data, budget, summary, baseline figures, candidates
    baseline/           baseline.tflite, baseline.json
    c001/, c002/, ...   each candidate's model.tflite, recipe.json, metrics.json

`session.json` is rewritten atomically after every change (autosave), and
`session.bak.json` keeps the same content as the last good copy, for when `session.json`
is damaged from outside.  On reopen, a candidate whose files are complete on disk
(`model.tflite`, `recipe.json` matching its recipe, `metrics.json`) is recovered even if
the studio stopped before it heard of it; one that was queued or running is marked
"interrupted", never silently dropped; a finished one whose files were deleted or changed
is marked "missing".  No TensorFlow and no Qt here: the window and the CLI share it.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from studio.values import atomic
from studio.values.errors import StudioError, reading_problem
from studio.values.metrics import Metrics, ModelSummary
from studio.values.recipe import Recipe

FILE = "session.json"
BACKUP = "session.bak.json"
ORIGIN = "origin.json"  # model, data, trust: written once, for rebuilding a lost session
VERSION = 1
STATUSES = (
    "queued",
    "running",
    "done",
    "broken",  # measured, but the file contradicts its recipe (see values/checks.py)
    "failed",
    "cancelled",
    "interrupted",
    "missing",
)
UNFINISHED = ("queued", "running")
RESULT_FILES = ("model.tflite", "recipe.json", "metrics.json")
OPTIONAL_FILES = ("fidelity.json",)  # a quantized candidate's per-tensor figures


class SessionError(StudioError):
    """A session folder that cannot be read."""


@dataclass(frozen=True)
class Candidate:
    """One recipe tried on the session's model, with its figures once measured."""

    id: int
    recipe: Recipe
    status: str = "queued"
    metrics: Metrics | None = None
    message: str = ""
    # Hidden by the user: kept (table, files) but off the plots and the recommendation.
    hidden: bool = False
    given_name: str = ""  # a sweep's own name for it (CLI: "01-prune-50-int8"), its folder

    @property
    def name(self) -> str:
        return self.given_name or f"c{self.id:03d}"

    @property
    def label(self) -> str:
        return self.recipe.describe()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "recipe": self.recipe.to_dict(),
            "status": self.status,
            "metrics": self.metrics.to_dict() if self.metrics is not None else None,
            "message": self.message,
            "hidden": self.hidden,
            **({"name": self.given_name} if self.given_name else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Candidate:
        status = data.get("status", "failed")
        message = data.get("message", "")
        if status in UNFINISHED:
            status, message = "interrupted", "the studio stopped before this candidate finished"
        return cls(
            id=int(data["id"]),
            recipe=Recipe.from_dict(data["recipe"]),
            status=status if status in STATUSES else "failed",
            metrics=None if data.get("metrics") is None else Metrics.from_dict(data["metrics"]),
            message=message,
            hidden=bool(data.get("hidden", False)),
            given_name=_subfolder(data.get("name", "")),
        )


def default_root() -> Path:
    return Path(platformdirs.user_data_dir("tflite-studio", appauthor=False)) / "sessions"


def new_folder(root: Path | None = None) -> Path:
    """A fresh, empty, time-stamped session folder under `root`."""
    root = root or default_root()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        folder = root / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue
        except OSError as err:
            raise SessionError(f"cannot create a session folder in {root}: {err.strerror}") from err
    raise SessionError(f"cannot create a session folder in {root}: too many sessions this second")


class Session:
    """The mutable record of a session; every change is saved at once."""

    def __init__(self, folder: Path, model: str, data: str, *, trust: bool = False) -> None:
        self.folder = Path(folder)
        self.model = model
        self.data = data
        self.trust = trust
        self.budget = 1.0  # accepted top-1 drop, in percentage points
        self.output = ""  # which output the figures are judged by ("" = the first)
        self.summary: ModelSummary | None = None
        self.baseline: Metrics | None = None
        self.candidates: dict[int, Candidate] = {}
        self.last_id = 0  # numbers are never reused: a deleted c005 stays gone
        self.baseline_folder = "baseline"  # where baseline.tflite/.json are ("": here)
        # The panels' settings in this session (the window's, kept with the session so
        # another model does not inherit them); None: the panels' defaults.
        self.draft: Recipe | None = None
        self.notes: tuple[str, ...] = ()  # what opening it repaired (see `open`)
        # Set by the window: saves then happen on a background thread (`atomic.Saver`);
        # without one (the CLI, tests) each change is on disk when `save` returns.
        self.saver: atomic.Saver | None = None
        self._dicts: dict[int, tuple[Candidate, dict]] = {}  # see `_candidate_dicts`

    # -- files ---------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        model: str,
        data: str,
        *,
        root: Path | None = None,
        trust: bool = False,
        folder: Path | None = None,
        baseline_folder: str = "baseline",
    ) -> Session:
        """A new session in a fresh folder under `root`, or in `folder` (the CLI's
        `--out`), with the float baseline's files in `baseline_folder` ("" for the
        session's own folder, as a sweep's output has them)."""
        if folder is not None:
            try:
                Path(folder).mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise SessionError(f"cannot create {folder}: {err.strerror or err}") from err
        session = cls(Path(folder) if folder else new_folder(root), model, data, trust=trust)
        session.baseline_folder = baseline_folder
        origin = {"model": model, "data": data, "trust": trust, "baseline_folder": baseline_folder}
        atomic.write_json(session.folder / ORIGIN, origin)
        session.save()
        return session

    @classmethod
    def open(cls, folder: str | Path) -> Session:
        """Reopen a session; `notes` then says what had to be repaired, if anything."""
        folder = Path(folder)
        path = folder / FILE
        if not path.exists() and not (folder / BACKUP).exists():
            raise SessionError(f"{folder} is not a studio session (no {FILE} in it)")
        atomic.clean_leftovers(folder)
        notes: list[str] = []
        try:
            session = cls._read(folder, path)
        except SessionError as err:
            try:
                session = cls._read(folder, folder / BACKUP)
            except SessionError:
                session = cls._rebuilt(folder, err)
                notes.append(session.notes[0])
            else:
                notes.append(
                    f"{FILE} was damaged ({err.__cause__ or err}); reopened from the last "
                    f"good copy, {BACKUP}"
                )
        notes += session.check_files().values()
        session.notes = tuple(notes)
        if notes:
            session.save()
        return session

    @classmethod
    def _rebuilt(cls, folder: Path, err: SessionError) -> Session:
        """Both `session.json` and its backup are damaged: the session rebuilt from
        `origin.json` and the candidate folders that are whole (model, recipe, figures);
        the float baseline is measured again.  Raises SessionError saying both were
        damaged when there is nothing to rebuild from."""
        both = (
            f"{FILE} and its backup {BACKUP} are both damaged"
            if (folder / BACKUP).exists()
            else f"{FILE} is damaged and it has no backup ({BACKUP})"
        )
        try:
            origin = json.loads((folder / ORIGIN).read_text(encoding="utf-8"))
            session = cls(folder, str(origin["model"]), str(origin["data"]))
            session.trust = bool(origin.get("trust", False))
            session.baseline_folder = _subfolder(origin.get("baseline_folder", "baseline"))
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as cause:
            raise SessionError(
                f"{folder}: {both} ({reading_problem(err.__cause__ or err)}), and the session "
                f"cannot be rebuilt (no readable {ORIGIN}: {reading_problem(cause)}); its "
                f"candidate folders are untouched. Start a new session"
            ) from err
        recovered, partial = [], []
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            if sub == session.baseline_dir or sub.name.startswith("."):
                continue
            if not all((sub / name).is_file() for name in RESULT_FILES):
                partial.append(sub.name)
                continue
            try:
                recipe = Recipe.from_json((sub / "recipe.json").read_text(encoding="utf-8"))
                raw = json.loads((sub / "metrics.json").read_text(encoding="utf-8"))
                metrics = Metrics.from_dict(raw)
            except (OSError, UnicodeDecodeError, ValueError, StudioError):
                partial.append(sub.name)
                continue
            numbered = sub.name[1:].isdigit() and sub.name.startswith("c")
            cid = int(sub.name[1:]) if numbered else session.last_id + 1
            session.last_id = max(session.last_id, cid)
            candidate = Candidate(cid, recipe, given_name="" if numbered else sub.name)
            session.candidates[cid] = dataclasses.replace(
                candidate, metrics=metrics, **_outcome(metrics)
            )
            recovered.append(sub.name)
        session.candidates = dict(sorted(session.candidates.items()))
        said = ", ".join(recovered) or "none"
        left = f"; not whole, left as they are: {', '.join(partial)}" if partial else ""
        session.notes = (
            f"{both}: the session was rebuilt from its candidate folders. Recovered: {said}"
            f"{left}. Its budget and hidden rows are back to their defaults, and the float "
            f"baseline is measured again.",
        )
        return session

    @classmethod
    def _read(cls, folder: Path, path: Path) -> Session:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise SessionError(f"{folder} is not a studio session (no {FILE} in it)") from err
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise SessionError(
                f"{path} is damaged and cannot be read ({reading_problem(err)}); start a new "
                f"session, or restore the file from a backup"
            ) from err
        try:
            session = cls(folder, str(raw["model"]), str(raw["data"]), trust=bool(raw["trust"]))
            session.budget = float(raw.get("budget", 1.0))
            session.output = str(raw.get("output", ""))
            session.last_id = int(raw.get("last_id", 0))
            session.baseline_folder = _subfolder(raw.get("baseline_folder", "baseline"))
            if raw.get("draft") is not None:
                session.draft = Recipe.from_dict(raw["draft"])
            if raw.get("summary") is not None:
                session.summary = ModelSummary.from_dict(raw["summary"])
            if raw.get("baseline") is not None:
                session.baseline = Metrics.from_dict(raw["baseline"])
            for item in raw.get("candidates", []):
                candidate = Candidate.from_dict(item)
                session.candidates[candidate.id] = candidate
        except (KeyError, TypeError, ValueError, AttributeError, StudioError) as err:
            raise SessionError(
                f"{path} is damaged ({err}); start a new session, or restore the file from a backup"
            ) from err
        return session

    def save(self) -> None:
        content = {
            "version": VERSION,
            "model": self.model,
            "data": self.data,
            "trust": self.trust,
            "budget": self.budget,
            "output": self.output,
            "last_id": self.last_id,
            "baseline_folder": self.baseline_folder,
            "draft": None if self.draft is None else self.draft.to_dict(),
            "summary": None if self.summary is None else self.summary.to_dict(),
            "baseline": None if self.baseline is None else self.baseline.to_dict(),
            "candidates": self._candidate_dicts(),
        }
        # Compact JSON: Python's C encoder handles only that, and a sweep's session is
        # saved dozens of times (the indented form took ~10 ms each on MobileNetV2).
        data = (json.dumps(content, separators=(",", ":")) + "\n").encode("utf-8")
        files = {self.folder / FILE: data, self.folder / BACKUP: data}  # BACKUP: last good
        if self.saver is not None:
            self.saver.write(files)
        else:
            for path, content_bytes in files.items():
                atomic.write_bytes(path, content_bytes)

    def _candidate_dicts(self) -> list[dict]:
        """Each candidate's dict, reused while it is the same (immutable) object: every
        change saves the whole session, and re-making the dicts of a few hundred
        unchanged candidates took ~2 ms a save on the window's thread."""
        dicts = {}
        for cid, candidate in self.candidates.items():
            known = self._dicts.get(cid)
            same = known is not None and known[0] is candidate
            dicts[cid] = (candidate, known[1] if same else candidate.to_dict())
        self._dicts = dicts
        return [d for _, d in dicts.values()]

    # -- changes -------------------------------------------------------------------

    @property
    def baseline_dir(self) -> Path:
        return self.folder / self.baseline_folder if self.baseline_folder else self.folder

    def candidate_dir(self, candidate_id: int) -> Path:
        return self.folder / self.candidates[candidate_id].name

    def tflite(self, candidate_id: int) -> Path:
        return self.candidate_dir(candidate_id) / "model.tflite"

    def add(self, recipe: Recipe) -> Candidate:
        return self.add_all([recipe])[0]

    def add_all(self, recipes: list[Recipe], names: list[str] | None = None) -> list[Candidate]:
        """New candidates, numbered in order, saved once (a sweep queues dozens);
        `names`: their folders' names, when not c001, c002, ..."""
        added = []
        for i, recipe in enumerate(recipes):
            self.last_id = max(self.last_id, *self.candidates, 0) + 1
            candidate = Candidate(self.last_id, recipe, given_name=names[i] if names else "")
            self.candidates[candidate.id] = candidate
            added.append(candidate)
        self.save()
        return added

    def set_hidden(self, candidate_id: int, hidden: bool) -> Candidate:
        return self.update(candidate_id, hidden=hidden)

    def delete(self, candidate_id: int) -> None:
        """Forget a finished candidate and delete its files.  A queued or running one is
        cancelled first (the window does that); its number is not given out again."""
        candidate = self.candidates[candidate_id]
        if candidate.status in UNFINISHED:
            raise SessionError(f"{candidate.name} is {candidate.status}: cancel it first")
        folder = self.candidate_dir(candidate_id)
        del self.candidates[candidate_id]
        self.save()
        shutil.rmtree(folder, ignore_errors=True)

    def update(self, candidate_id: int, **changes: Any) -> Candidate:
        if changes.get("metrics") is not None:
            changes["metrics"] = self._judged(changes["metrics"])
            if changes.get("status") == "done":
                changes.update(_outcome(changes["metrics"]))
        candidate = dataclasses.replace(self.candidates[candidate_id], **changes)
        self.candidates[candidate_id] = candidate
        self.save()
        return candidate

    def set_baseline(self, summary: ModelSummary, metrics: Metrics) -> None:
        self.summary, self.baseline = summary, self._judged(metrics)
        self.save()

    def set_output(self, name: str) -> None:
        """Judge every figure by output `name` (a model with several outputs): the plots,
        the budget and the recommendation follow.  Each candidate's figures hold every
        output's, so switching back and forth loses nothing."""
        self.output = name
        if self.baseline is not None:
            self.baseline = self._judged(self.baseline)
        for cid, candidate in self.candidates.items():
            if candidate.metrics is not None:
                self.candidates[cid] = dataclasses.replace(
                    candidate, metrics=self._judged(candidate.metrics)
                )
        self.save()

    def _judged(self, metrics: Metrics) -> Metrics:
        return metrics.for_output(self.output) if self.output else metrics

    def set_draft(self, recipe: Recipe) -> None:
        """The panels' settings, remembered with this session (saved if they changed)."""
        if recipe != self.draft:
            self.draft = recipe
            self.save()

    def set_budget(self, budget: float) -> None:
        self.budget = budget
        self.save()

    def finished(self) -> list[Candidate]:
        """Measured and not hidden: what the plots, the recommendation and the report
        consider."""
        return [
            c for c in self.candidates.values() if c.status == "done" and c.metrics and not c.hidden
        ]

    # -- what is on disk -------------------------------------------------------------

    def measured(self, candidate_id: int) -> Metrics | None:
        """The figures a worker wrote for this candidate, if its files are complete and
        are this candidate's (the recipe on disk is its recipe); else None."""
        folder = self.candidate_dir(candidate_id)
        if not all((folder / name).is_file() for name in RESULT_FILES):
            return None
        try:
            recipe = Recipe.from_json((folder / "recipe.json").read_text(encoding="utf-8"))
            metrics = Metrics.from_dict(
                json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
            )
        except (OSError, UnicodeDecodeError, ValueError, StudioError):
            return None
        return self._judged(metrics) if recipe == self.candidates[candidate_id].recipe else None

    def file_problem(self, candidate_id: int) -> str:
        """Why a finished candidate's model can no longer be used ('' if it can)."""
        candidate = self.candidates[candidate_id]
        path = self.tflite(candidate_id)
        if not path.is_file():
            return f"its file {path} was deleted; run the recipe again"
        expected = candidate.metrics.size_bytes if candidate.metrics else None
        if expected is not None and path.stat().st_size != expected:
            return (
                f"its file {path} was changed after it was measured "
                f"({path.stat().st_size} bytes, measured {expected}); run the recipe again"
            )
        return ""

    def export(self, candidate_id: int, target: Path) -> Path:
        """Copy a candidate's .tflite to `target` (".tflite" added if missing) and its
        recipe beside it, both or neither.  Raises StudioError saying why not."""
        candidate = self.candidates[candidate_id]
        if target.suffix != ".tflite":
            target = target.with_name(target.name + ".tflite")
        problem = self.file_problem(candidate_id)
        if problem:
            raise StudioError(f"{candidate.name} cannot be exported: {problem}.")
        try:
            blob = self.tflite(candidate_id).read_bytes()
        except OSError as err:
            raise StudioError(f"{self.tflite(candidate_id)}: {err.strerror}") from err
        recipe = candidate.recipe.to_json().encode()
        atomic.write_all({target: blob, target.with_suffix(".recipe.json"): recipe})
        return target

    def check_files(self, *, recover: bool = True) -> dict[int, str]:
        """Mark finished candidates whose files went away as "missing"; with `recover`
        (on reopen, when no job runs), also take in candidates measured on disk but never
        recorded.  Returns the changed candidates, each with a line for the user."""
        notes: dict[int, str] = {}
        for cid, candidate in list(self.candidates.items()):
            if candidate.status != "done":
                if not recover:
                    continue
                metrics = self.measured(cid)
                if metrics is not None:
                    self.candidates[cid] = dataclasses.replace(
                        candidate, metrics=metrics, **_outcome(metrics)
                    )
                    notes[cid] = f"{candidate.name} recovered: it was measured before the stop"
                continue
            problem = self.file_problem(cid)
            if problem:
                self.candidates[cid] = dataclasses.replace(
                    candidate, status="missing", message=problem
                )
                notes[cid] = f"{candidate.name} is missing: {problem}"
        return notes


@dataclass(frozen=True)
class SessionInfo:
    """One line of File → Recent sessions, and of the sessions a model offers."""

    folder: Path
    model: str
    data: str
    modified: float  # seconds since the epoch
    candidates: int

    def title(self) -> str:
        """'reader.keras on text.npz — 2026-12-03 14:05 — 2 candidate(s)': model and
        data tell sessions of several models apart, the time those of one."""
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.modified))
        return (
            f"{_shown(self.model)} on {_shown(self.data)} — {when} — {self.candidates} candidate(s)"
        )


def _shown(source: str) -> str:
    return "the demo" if source == "demo" else Path(source).name


def list_sessions(
    root: Path | None = None,
    limit: int = 20,
    *,
    model: str | None = None,
    empty: bool = False,
) -> list[SessionInfo]:
    """Sessions under `root`, newest first (damaged ones are left out); only those of
    `model` if given; sessions with no candidate only if `empty` (a model opened and
    left holds nothing to go back to)."""
    root = root or default_root()
    found = []
    for path in root.glob(f"*/{FILE}"):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            info = SessionInfo(
                path.parent,
                str(raw["model"]),
                str(raw["data"]),
                path.stat().st_mtime,
                len(raw.get("candidates", [])),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        if (info.candidates or empty) and (model is None or _same(info.model, model)):
            found.append(info)
    return sorted(found, key=lambda s: s.modified, reverse=True)[:limit]


def _same(a: str, b: str) -> bool:
    """The same model file, however its path was written."""
    if a == b:
        return True
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def _subfolder(name: object) -> str:
    """A folder name inside the session (never a path out of it)."""
    name = str(name)
    if name and (Path(name).name != name or name in (".", "..")):
        raise ValueError(f"baseline_folder {name!r} is not a folder name")
    return name


def _outcome(metrics: Metrics) -> dict[str, str]:
    """A measured candidate's status: "broken" when its file contradicts its recipe
    (never plotted, recommended or exported as a result), with what went wrong."""
    broken = [f.message for f in metrics.flags if f.broken]
    if broken:
        return {"status": "broken", "message": " ".join(broken)}
    return {"status": "done", "message": ""}
