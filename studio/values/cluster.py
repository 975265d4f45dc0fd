"""Where candidates run: this machine, or a Ray cluster; and what a cluster must agree on.

One table (`PLACES`) that the CLI's `--backend`, the sweep and search dialogs' "Run on"
and the settings read; the cluster's own settings (`Cluster`) as plain data that crosses
to the process talking to Ray (`studio.jobs.ray_bridge`); the checks made on connecting
(the packages whose versions decide a candidate's figures must match the cluster's);
and the arithmetic behind docs/cluster.md's time estimate.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from studio.values import extras
from studio.values.errors import StudioError

RAY_INSTALL = extras.install_command("ray")
GIB = 2**30


@dataclass(frozen=True)
class Place:
    name: str  # as the CLI spells it (--backend NAME) and settings store it
    label: str  # the dialogs' "Run on" choice
    tooltip: str
    needs: tuple[str, str] | None = None  # (module, pip extra) it cannot run without


PLACES: dict[str, Place] = {
    p.name: p
    for p in (
        Place(
            "local",
            "This machine",
            "Worker processes on this computer (as many as its cores and memory allow).",
        ),
        Place(
            "ray",
            "Ray cluster",
            "Candidates run as Ray tasks on a cluster (ray start, ray up, KubeRay, a "
            "managed service); their files come back into this session. The float "
            "baseline and the latency timed together run on this machine.",
            needs=("ray", "ray"),
        ),
    )
}


def missing(place: str) -> str | None:
    """None when candidates can run at `place` from here, else one line saying what to
    install."""
    needs = PLACES[place].needs
    if needs is None or extras.importable(needs[0]):
        return None
    return (
        f"running on a {PLACES[place].label} needs Ray ({needs[0]}), an optional extra: "
        f"{RAY_INSTALL}"
    )


_HOST_PORT = re.compile(r"^(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")


@dataclass(frozen=True)
class Cluster:
    """How to reach and use a Ray cluster.

    `address`: "auto" (this machine is a node of a running cluster), "HOST:PORT" (the
    head's GCS port, 6379 by default; this machine must be a node) or
    "ray://HOST:10001" (Ray Client, from a machine outside the cluster).
    `retries`: how often a task whose worker or node died is run again before its
    candidate is marked failed.  `cpus`: CPUs each task asks for (its TensorFlow and
    LiteRT threads).  `ship_code`: send this studio's own code to the workers
    (Ray's runtime_env `py_modules`), so nodes need only its dependencies installed.
    """

    address: str = "auto"
    retries: int = 2
    cpus: int = 1
    ship_code: bool = True
    connect_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        address = self.address.strip()
        if address != "auto" and not _HOST_PORT.match(address):
            raise StudioError(
                f"Ray address {self.address!r}: give auto, HOST:PORT (the head's port, "
                f"e.g. 10.0.0.5:6379) or ray://HOST:10001"
            )
        if not 0 <= self.retries <= 10:
            raise StudioError(f"Ray retries {self.retries}: give 0 to 10")
        if self.cpus < 1:
            raise StudioError(f"Ray CPUs per task {self.cpus}: give 1 or more")
        object.__setattr__(self, "address", address)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> Cluster:
        fields = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        return cls(**fields)


@dataclass(frozen=True)
class ClusterInfo:
    """What "Test connection" reports, and the backend sizes itself by."""

    address: str
    nodes: int
    cpus: float
    memory_bytes: float
    versions: dict  # package -> version on a worker of the cluster

    def describe(self) -> str:
        return (
            f"{self.nodes} node(s), {self.cpus:g} CPUs, "
            f"{self.memory_bytes / GIB:.0f} GiB for tasks at {self.address} "
            f"(Ray {self.versions.get('ray', '?')}, studio {self.versions.get('tflite-studio', '?')})"
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> ClusterInfo:
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__})


# The packages whose versions decide what a candidate's file and figures are: a
# cluster node with another TensorFlow converts differently, another LiteRT measures
# differently.  Python and Ray are checked by Ray itself when connecting.
MATCHED = (
    "tflite-studio",
    "tensorflow",
    "tf-keras",
    "tensorflow-model-optimization",
    "ai-edge-litert",
    "litert-quantizer",
)


def mismatch(here: dict, there: dict) -> str | None:
    """None when the cluster's workers run the same versions as this machine, else one
    message naming each package that differs and what to do."""
    differ = [
        f"{name} {there.get(name) or 'not installed'} on the cluster, "
        f"{here.get(name) or 'not installed'} here"
        for name in MATCHED
        if (here.get(name) or None) != (there.get(name) or None)
    ]
    if not differ:
        return None
    return (
        "the Ray cluster's workers run other versions than this studio: "
        + "; ".join(differ)
        + ". Install the same versions on the cluster's nodes (see docs/cluster.md), "
        "or run on this machine"
    )


def task_memory(model_bytes: int, data_bytes: int) -> int:
    """The memory a candidate's task asks Ray for, so a node is not given more tasks
    than it can hold: TensorFlow itself (measured: ~1 GiB per worker), the model
    several times over (Keras, the tfmot wrappers, the converter's copies) and the
    data twice (the arrays and a fine-tune's batches)."""
    return int(1.5 * GIB + 8 * model_bytes + 3 * data_bytes)


def sweep_seconds(
    candidates: int,
    groups: int,
    slots: int,
    candidate_s: float,
    prefix_s: float = 0.0,
    *,
    overhead_s: float = 0.0,
) -> float:
    """A sweep's wall time on `slots` CPUs (nodes × CPUs each) from single-task figures:
    `groups` shared fine-tunes of `prefix_s` each and `candidates` candidates of
    `candidate_s` each, one task per CPU at a time.  However many CPUs there are, a
    candidate waits for its group's fine-tune (the critical path), and there is a fixed
    overhead (connecting, shipping the files, the float baseline on this machine, the
    final timing)."""
    work = groups * prefix_s + candidates * candidate_s
    spread = work / max(1, slots)
    return overhead_s + max(spread, (prefix_s if groups else 0.0) + candidate_s)
