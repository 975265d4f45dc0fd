"""Hand-made typed values for fast tests: figures and model summaries without TensorFlow."""

from __future__ import annotations

from studio.values.metrics import InputSpec, Latency, LayerInfo, Metrics, ModelSummary


def figures(
    gzip: int = 100,
    accuracy: float | None = 0.9,
    latency: float = 1.0,
    *,
    size: int | None = None,
    metric: str = "top1",
    agreement: float | None = 1.0,
    **more,
) -> Metrics:
    """Metrics as a worker would send them; `size` defaults to twice `gzip`."""
    return Metrics(
        size_bytes=2 * gzip if size is None else size,
        gzip_bytes=gzip,
        accuracy=accuracy,
        metric=metric,
        agreement=agreement,
        output_rmse=0.01,
        latency_ms=Latency(latency, latency * 1.1, 1),
        peak_memory_bytes=3_000_000,
        **more,
    )


def summary(name: str = "m", layers: tuple[str, ...] = ("dense",)) -> ModelSummary:
    """A small classifier's summary: every layer prunable, clusterable and quantizable."""
    return ModelSummary(
        name=name,
        inputs=(InputSpec("x", (8,), "float32"),),
        outputs=(InputSpec("y", (3,), "float32"),),
        layers=tuple(LayerInfo(n, "Dense", 10, True, True, True) for n in layers),
        params=10 * len(layers),
        sequential=False,
    )
