"""``edged bench gallery --real DATA``: who is let in at 10,000 to 1,000,000 enrolled, with real faces.

Queries are real LFW embeddings (the face pipeline's, cached by ``edged eval openset``). The people are split
(seeded) three ways: *model* people, whose images fit the distractor model; *enrolled* people (with at
least two images: one is the template, the others are genuine queries); *strangers*, never enrolled, whose
every image is a stranger query. The gallery is the enrolled templates plus synthetic distractors up to the
size asked for.

Distractors: each is a new "person" drawn from a Gaussian fitted to the model people's embeddings (their
mean and full covariance, the spread scaled per distractor: ``DistractorModel``), normalised to unit
length. Its two scale parameters are fitted so that the 1e-2 and 1e-4 upper quantiles of the similarities
between real queries and distractors equal those of the real impostor pairs between the query people and
the model people; the 1e-3 and 1e-5 quantiles are reported beside them so the match can be judged. Search
is exact (chunked top-2 per query); the index's own recall against exact search is what
``edged bench gallery`` without ``--real`` measures.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

CHUNK = 50_000
QUANTILES = {"1e-2": 1e-2, "1e-3": 1e-3, "1e-4": 1e-4, "1e-5": 1e-5}
MATCH_AT = 1e-4


@dataclass
class DistractorModel:
    """Distractor k = normalise(mean + sqrt(alpha * v_k) * factor @ z): a Gaussian fitted to real
    embeddings whose spread varies from distractor to distractor (v_k log-normal with log-sd ``sigma`` and
    mean 1). The varying spread gives the heavier upper tail of real impostor similarities: a few faces
    near the average face resemble many people (the "hubs" of real galleries)."""

    mean: np.ndarray
    factor: np.ndarray  # (dim, dim): covariance = factor @ factor.T
    alpha: float = 1.0
    sigma: float = 0.0

    @classmethod
    def fit(cls, emb: np.ndarray) -> DistractorModel:
        x = np.asarray(emb, np.float64)
        mean = x.mean(axis=0)
        cov = np.cov(x, rowvar=False) + 1e-6 * np.eye(x.shape[1])
        return cls(mean, np.linalg.cholesky(cov))

    def sample(self, count: int, seed: int, chunk: int) -> np.ndarray:
        rng = np.random.default_rng([seed, chunk])
        z = rng.standard_normal((count, len(self.mean)))
        v = np.exp(self.sigma * rng.standard_normal((count, 1)) - self.sigma**2 / 2)
        x = self.mean + np.sqrt(self.alpha * v) * (z @ self.factor.T)
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    def chunks(self, size: int, seed: int) -> Iterator[np.ndarray]:
        for i, start in enumerate(range(0, size, CHUNK)):
            yield self.sample(min(CHUNK, size - start), seed, i)


def upper_quantiles(scores: np.ndarray) -> dict[str, float]:
    """The score exceeded by each share in QUANTILES (NaN where fewer than 10 scores lie above it)."""
    s = np.sort(np.asarray(scores).ravel())[::-1]
    out = {}
    for key, q in QUANTILES.items():
        k = int(q * len(s))
        out[key] = round(float(s[k]), 4) if k >= 10 else float("nan")
    return out


FIT_ON = ("1e-3", "1e-4")  # the quantiles alpha and sigma are fitted to (FPIR lives in the far tail)


def fit_spread(
    model: DistractorModel, queries: np.ndarray, real: dict[str, float], seed: int, distinct: float
) -> float:
    """Grid search of (alpha, sigma) so the FIT_ON upper quantiles of query·distractor match ``real``, among
    the settings whose distractors stay distinct people: the 1e-3 upper quantile of their similarities to
    one another at most ``distinct`` (that of real impostor pairs). Returns the remaining root-mean-square
    difference."""
    probe = queries[: min(len(queries), 300)]
    best = (np.inf, 1.0, 0.0)
    for sigma in np.arange(0.0, 3.01, 0.25):
        for alpha in np.geomspace(0.25, 4.0, 9):
            model.alpha, model.sigma = float(alpha), float(sigma)
            d = model.sample(5_000, seed, 1 << 20)
            own = d[:1500] @ d[:1500].T
            if upper_quantiles(own[np.triu_indices(1500, 1)])["1e-3"] > distinct:
                continue
            q = upper_quantiles(probe @ d.T)
            err = float(np.sqrt(np.mean([(q[k] - real[k]) ** 2 for k in FIT_ON])))
            if err < best[0]:
                best = (err, float(alpha), float(sigma))
    model.alpha, model.sigma = best[1], best[2]
    return best[0]


def split_people(ident: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Identity indices: (model people, enrolled people with ≥ 2 images, strangers): half for the model, the
    rest split evenly among those with two or more images into enrolled and strangers (singletons are
    strangers)."""
    n_ids = int(ident.max()) + 1
    rng = np.random.default_rng([seed, 0xBE])
    perm = rng.permutation(n_ids)
    model, rest = perm[: n_ids // 2], perm[n_ids // 2 :]
    counts = np.bincount(ident, minlength=n_ids)
    multi = rest[counts[rest] >= 2]
    enrolled = multi[: len(multi) // 2]
    strangers = np.setdiff1d(rest, enrolled)
    return model, enrolled, strangers


def _top2(queries: np.ndarray, blocks: Iterator[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best row, best and second-best similarity of each query over all blocks (rows numbered in order)."""
    n = len(queries)
    best = np.full(n, -np.inf, np.float32)
    second = np.full(n, -np.inf, np.float32)
    row = np.full(n, -1, np.int64)
    start = 0
    for block in blocks:
        s = queries @ block.T
        if s.shape[1] >= 2:
            idx = np.argpartition(-s, 1, axis=1)[:, :2]
            v = np.take_along_axis(s, idx, axis=1)
            order = np.argsort(-v, axis=1)
            v, idx = np.take_along_axis(v, order, axis=1), np.take_along_axis(idx, order, axis=1)
        else:
            v = np.concatenate([s, np.full((n, 1), -np.inf, np.float32)], axis=1)
            idx = np.zeros((n, 2), np.int64)
        for k in range(2):
            cand, cand_row = v[:, k], idx[:, k] + start
            new_best = cand > best
            second = np.where(new_best, best, np.maximum(second, cand))
            row = np.where(new_best, cand_row, row)
            best = np.where(new_best, cand, best)
        start += block.shape[0]
    return row, best, second


def run_real(
    emb: np.ndarray,
    ident: np.ndarray,
    sizes: list[int],
    threshold: float,
    *,
    margin: float = 0.0,
    calibration: Any = None,
    target_fpir: float = 1e-2,
    seed: int = 0,
) -> dict[str, Any]:
    """Recall@1 of the true match and FPIR of strangers at ``threshold`` (and at the calibrated threshold for
    each size when a ``Calibration`` is given) with ``sizes`` people enrolled."""
    from edged.identity.operating_point import fpir, passes_margin, threshold_for_fpir

    emb = np.asarray(emb, np.float32)
    model_ids, enrolled_ids, stranger_ids = split_people(ident, seed)
    rng = np.random.default_rng([seed, 0x7E])
    in_model = np.isin(ident, model_ids)
    templates, genuine_rows = [], []
    for i in enrolled_ids:
        rows = np.flatnonzero(ident == i)
        t = int(rng.choice(rows))
        templates.append(t)
        genuine_rows += [int(r) for r in rows if r != t]
    templates_a = np.array(templates)
    genuine_a = np.array(genuine_rows)
    stranger_rows = np.flatnonzero(np.isin(ident, stranger_ids))
    queries = np.concatenate([emb[genuine_a], emb[stranger_rows]])
    is_genuine = np.arange(len(queries)) < len(genuine_a)
    position = np.full(int(ident.max()) + 1, -1)
    position[enrolled_ids] = np.arange(len(enrolled_ids))  # gallery row of each enrolled person's template
    truth = np.concatenate([position[ident[genuine_a]], np.full(len(stranger_rows), -1)])

    model = DistractorModel.fit(emb[in_model])
    query_people = ~in_model
    real_imp = emb[query_people][:3000] @ emb[in_model].T
    real_q = upper_quantiles(real_imp)
    model_emb = emb[in_model][:3000]
    iu = np.triu_indices(len(model_emb), 1)
    model_ident = ident[in_model][:3000]
    self_real = upper_quantiles((model_emb @ model_emb.T)[iu][model_ident[iu[0]] != model_ident[iu[1]]])
    fit_rms = fit_spread(model, emb[query_people], real_q, seed, distinct=self_real["1e-3"])
    synth = model.sample(len(model_emb), seed, 1 << 22)
    self_synth = upper_quantiles((synth @ synth.T)[iu])
    synth_q = upper_quantiles(emb[query_people][:3000] @ model.sample(int(in_model.sum()), seed, 1 << 21).T)

    result: dict[str, Any] = {
        "queries_genuine": int(is_genuine.sum()),
        "queries_strangers": int((~is_genuine).sum()),
        "enrolled_real": len(templates_a),
        "model_people": len(model_ids),
        "distractors": "Gaussian fitted to the model people's embeddings, spread scaled by alpha times a "
        "log-normal factor of log-sd sigma per distractor; alpha and sigma fitted to the real "
        f"{' and '.join(FIT_ON)} upper quantiles of impostor similarity, among the settings whose "
        "distractors are no more alike than real people (1e-3 quantile)",
        "alpha": round(model.alpha, 4),
        "sigma": model.sigma,
        "fit_rms": round(fit_rms, 4),
        "impostor_upper_quantiles": {"real": real_q, "synthetic": synth_q},
        # distractors among themselves against real people among themselves: distinct people, not copies
        "distractor_self": {"real": self_real, "synthetic": self_synth},
        "threshold": threshold,
        "margin": margin,
        "sizes": {},
    }
    for size in sizes:
        if size < len(templates_a):
            raise ValueError(f"size {size} is below the {len(templates_a)} real templates")
        t0 = time.perf_counter()

        def blocks(size: int = size) -> Iterator[np.ndarray]:
            yield emb[templates_a]
            yield from model.chunks(size - len(templates_a), seed)

        row, best, second = _top2(queries, blocks())
        search_s = time.perf_counter() - t0
        correct = row == truth
        lead = np.array(
            [passes_margin(float(b), float(s), margin) for b, s in zip(best, second, strict=True)]
        )
        accepted = (best >= threshold) & lead
        entry: dict[str, Any] = {
            "recall_at_1": round(float(correct[is_genuine].mean()), 4),
            "fnir": round(float(1 - (accepted & correct)[is_genuine].mean()), 4),
            "fpir": round(float(accepted[~is_genuine].mean()), 4),
            "false_positives": int(accepted[~is_genuine].sum()),
            "search_s": round(search_s, 1),
        }
        if calibration is not None:
            tail = calibration.tail(False)
            choice = threshold_for_fpir(tail, size, target_fpir)
            acc_c = (best >= choice.threshold) & lead
            entry["calibrated"] = {
                "target_fpir": target_fpir,
                "threshold": round(choice.threshold, 4),
                "resolved": choice.resolved,
                "predicted_fpir": round(fpir(tail.far_at(choice.threshold), size), 5),
                "fpir": round(float(acc_c[~is_genuine].mean()), 4),
                "fnir": round(float(1 - (acc_c & correct)[is_genuine].mean()), 4),
            }
        result["sizes"][str(size)] = entry
    return result


MAX_SIZE = 10_000_000


def bench_real_command(args: Any) -> int:
    """``edged bench gallery --real DATA [--sizes A,B] [--config FILE] [--json]``."""
    import json
    import sys

    from edged.config.schema import load_config
    from edged.identity.operating_point import CalibrationError, load_calibration
    from edged.vision.commands import make_pipeline
    from edged.vision.openset_cmd import DEFAULT_CALIBRATION_DIR
    from edged.vision.openset_run import real_embeddings

    try:
        sizes = [int(s) for s in str(args.sizes).split(",") if s.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(not 1 <= s <= MAX_SIZE for s in sizes):
        print(f"edged: --sizes: whole numbers 1 to {MAX_SIZE:,}, comma-separated", file=sys.stderr)
        return 2
    cfg = load_config(getattr(args, "config", None))
    from edged.identity.gallery import embedder_tag

    tag = embedder_tag(cfg.vision)
    calibration = None
    path = DEFAULT_CALIBRATION_DIR / f"calibration-{tag.model_id}.json"
    if path.exists():
        try:
            calibration = load_calibration(path)
        except CalibrationError as exc:
            print(f"edged: {exc}; calibrated figures left out", file=sys.stderr)
        if calibration is not None and calibration.embedder != f"{tag.model_id}@{tag.version}":
            calibration = None
    emb, ident = real_embeddings(make_pipeline(cfg), args.real)
    try:
        result = run_real(
            emb, ident, sizes, cfg.vision.match_threshold, calibration=calibration, seed=args.seed
        )
    except ValueError as exc:
        print(f"edged: bench gallery --real: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result))
    else:
        q = result["impostor_upper_quantiles"]
        print(
            f"distractor model alpha {result['alpha']}; impostor tail real {q['real']} "
            f"synthetic {q['synthetic']}"
        )
        for size, r in result["sizes"].items():
            print(
                f"N={size}: recall@1 {r['recall_at_1']}, FPIR {r['fpir']}, FNIR {r['fnir']} "
                f"at {result['threshold']}"
            )
    return 0
