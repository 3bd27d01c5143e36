"""How close a backend's outputs are to ONNX Runtime's, per model, and the tolerances they must meet.

Used by the backend conformance tests, by the INT8 accuracy gate of ``edged build-engines`` and by the
GPU check script. Tolerances are stated per model in the units the pipeline uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    min_cosine: float | None = None  # embeddings: cosine of each row with the reference row
    max_abs: float | None = None  # everything else: largest absolute difference
    score_column: int | None = None  # detector: compare boxes only where the reference face score is high
    score_floor: float = 0.5


# fp16/fp32. Detector boxes are normalised to 0..1 (2e-3 = 0.64 px on the 320-px input); landmarks are
# normalised to the 64-px crop (3e-3 = 0.2 px there); liveness outputs are logits.
TOLERANCES: dict[str, dict[str, Tolerance]] = {
    "fr_detect": {"scores": Tolerance(max_abs=1e-2), "boxes": Tolerance(max_abs=2e-3, score_column=1)},
    "fr_landmark": {"output": Tolerance(max_abs=3e-3)},
    "fr_feature": {"output": Tolerance(min_cosine=0.999)},
    "sface": {"fc1": Tolerance(min_cosine=0.999)},
    "fr_liveness": {"output": Tolerance(max_abs=5e-2)},
}
# INT8 is accepted only when every output stays this close to ONNX Runtime's on the calibration inputs.
INT8_TOLERANCES: dict[str, dict[str, Tolerance]] = {
    "fr_detect": {"scores": Tolerance(max_abs=3e-2), "boxes": Tolerance(max_abs=5e-3, score_column=1)},
    "fr_landmark": {"output": Tolerance(max_abs=8e-3)},
    "fr_feature": {"output": Tolerance(min_cosine=0.995)},
    "sface": {"fc1": Tolerance(min_cosine=0.995)},
    "fr_liveness": {"output": Tolerance(max_abs=0.15)},
}


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a2 = a.reshape(len(a), -1).astype(np.float64)
    b2 = b.reshape(len(b), -1).astype(np.float64)
    na = np.linalg.norm(a2, axis=1)
    nb = np.linalg.norm(b2, axis=1)
    if np.any(na == 0) or np.any(nb == 0):
        raise ValueError("zero vector: cosine undefined")
    return np.asarray((a2 * b2).sum(axis=1) / (na * nb))


@dataclass(frozen=True)
class Comparison:
    model: str
    output: str
    metric: str  # "min_cosine" or "max_abs"
    value: float
    limit: float
    passed: bool

    def line(self) -> str:
        op = ">=" if self.metric == "min_cosine" else "<="
        verdict = "ok" if self.passed else "FAIL"
        return (
            f"{self.model}/{self.output}: {self.metric} {self.value:.6g} (need {op} {self.limit:g}) {verdict}"
        )


def compare_output(
    model: str,
    output: str,
    got: np.ndarray,
    ref: np.ndarray,
    tol: Tolerance,
    scores: np.ndarray | None = None,
) -> Comparison:
    if got.shape != ref.shape:
        raise ValueError(f"{model}/{output}: shape {got.shape} differs from the reference {ref.shape}")
    if not np.all(np.isfinite(got)):
        return Comparison(model, output, "finite", float("nan"), 0.0, False)
    if tol.min_cosine is not None:
        value = float(row_cosines(got, ref).min())
        return Comparison(model, output, "min_cosine", value, tol.min_cosine, value >= tol.min_cosine)
    assert tol.max_abs is not None
    diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    if tol.score_column is not None:
        if scores is None:
            raise ValueError(f"{model}/{output}: needs the reference scores to select rows")
        mask = scores[..., tol.score_column] >= tol.score_floor
        diff = diff[mask]
    value = float(diff.max()) if diff.size else 0.0
    return Comparison(model, output, "max_abs", value, tol.max_abs, value <= tol.max_abs)


def compare_model(
    model: str,
    names: list[str],
    got: list[np.ndarray],
    ref: list[np.ndarray],
    table: dict[str, dict[str, Tolerance]] | None = None,
) -> list[Comparison]:
    """Compare every output of ``model`` (outputs in the order of ``names``) with the reference."""
    tolerances = (TOLERANCES if table is None else table).get(model)
    if tolerances is None:
        raise KeyError(f"no tolerances stated for model {model!r}")
    by_name = dict(zip(names, ref, strict=True))
    results = []
    for name, g, r in zip(names, got, ref, strict=True):
        tol = tolerances.get(name)
        if tol is None:
            raise KeyError(f"no tolerance stated for {model}/{name}")
        results.append(compare_output(model, name, g, r, tol, scores=by_name.get("scores")))
    return results


def accuracy_gate(
    model: str,
    names: list[str],
    candidate: Callable[[np.ndarray], list[np.ndarray]],
    reference: Callable[[np.ndarray], list[np.ndarray]],
    inputs: np.ndarray,
    table: dict[str, dict[str, Tolerance]],
    batch: int = 1,
) -> list[Comparison]:
    """Run both backends over ``inputs`` in batches and compare all outputs at once."""
    got: list[list[np.ndarray]] = [[] for _ in names]
    ref: list[list[np.ndarray]] = [[] for _ in names]
    for start in range(0, len(inputs), batch):
        x = inputs[start : start + batch]
        for acc, outs in ((got, candidate(x)), (ref, reference(x))):
            for j, o in enumerate(outs):
                acc[j].append(o)
    return compare_model(
        model, names, [np.concatenate(g) for g in got], [np.concatenate(r) for r in ref], table
    )
