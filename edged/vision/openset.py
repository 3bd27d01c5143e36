"""Open-set figures from embeddings (``edged eval openset``; the run is in ``openset_run.py``).

In the spirit of LFW's BLUFR protocol (Liao et al., 2014):

- verification over all cross pairs of images: every pair of images of two different people is an impostor
  pair (tens of millions on LFW), every pair of two images of one person a genuine pair; TAR at FAR down to
  where the impostor pairs resolve it;
- open-set identification: the identities are split (seeded) into enrolled and never-enrolled; the gallery
  holds one image per enrolled identity, the other images of enrolled identities are genuine probes, every
  image of a never-enrolled identity is a stranger. A probe is accepted as the gallery's best identity
  when the runtime's rule holds: best similarity at or above the threshold AND at least ``margin`` above
  the best *other* identity (``operating_point.passes_margin``);
- intervals by resampling identities, never pairs or probes: the images of one person are not independent.

A probe may come from another path than the gallery (a masked probe embedded by the masked-face head): each
probe carries the threshold of its path (``offset``), and its scores are compared as excess over it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edged.identity.operating_point import ImpostorTail, fpir, threshold_for_fpir

BLOCK = 1024  # rows per matrix product: memory stays at BLOCK × columns floats
HIST_LO, HIST_BIN = -1.0, 0.0005  # impostor histogram over the cosine range
HIST_BINS = int(round(2.0 / HIST_BIN)) + 1
MIN_RESOLVED = 10  # a rate is resolved when at least this many impostor pairs (or strangers) may exceed it
FARS = {"1e-3": 1e-3, "1e-4": 1e-4, "1e-5": 1e-5, "1e-6": 1e-6}
FPIR_TARGETS = {"1e-2": 1e-2, "1e-3": 1e-3}
LEVEL = 0.95


# ---------------------------------------------------------------------------------------------- pairs


@dataclass
class PairScores:
    """All cross pairs of one side (gallery-side images) with another (probe-side images).

    ``genuine``: excess scores (score − probe's threshold) of same-identity pairs, with their identity;
    ``hist``: every impostor pair's raw score, binned (for the calibrated tail); ``top``: the highest impostor
    excess scores (at least ``keep`` of them) with both identities, for exact TAR at FAR and its intervals.
    """

    genuine: np.ndarray
    genuine_id: np.ndarray
    impostor_pairs: int
    hist: np.ndarray
    top: np.ndarray
    top_a: np.ndarray
    top_b: np.ndarray
    counts_a: np.ndarray  # images per identity on the gallery side
    counts_b: np.ndarray  # on the probe side
    symmetric: bool  # one set of images paired with itself (unordered pairs, no self-pairs)

    def tail(self, start_far: float = 0.1, step: float = 0.001) -> ImpostorTail:
        """The per-comparison false-accept rate at thresholds ``step`` apart, from where it falls below
        ``start_far`` to one step past the highest impostor score."""
        above = np.cumsum(self.hist[::-1])[::-1]  # above[k]: pairs with score >= edge k
        far = above / max(self.impostor_pairs, 1)
        edges = HIST_LO + HIST_BIN * np.arange(HIST_BINS)
        stride = max(1, int(round(step / HIST_BIN)))
        first = int(np.argmax(far <= start_far))
        nonzero = np.nonzero(above)[0]
        last = min(HIST_BINS - 1, (int(nonzero[-1]) if len(nonzero) else first) + stride)
        idx = np.arange(first, last + 1, stride)
        if len(idx) < 2:
            idx = np.array([first, min(first + stride, HIST_BINS - 1)])
        return ImpostorTail(np.round(edges[idx], 6), far[idx], self.impostor_pairs)


def _blocks(n: int, block: int = BLOCK) -> Iterator[slice]:
    for start in range(0, n, block):
        yield slice(start, min(n, start + block))


def cross_pairs(
    gallery: np.ndarray,
    gallery_id: np.ndarray,
    probe: np.ndarray | None = None,
    probe_id: np.ndarray | None = None,
    probe_offset: np.ndarray | None = None,
    probe_image: np.ndarray | None = None,
    gallery_image: np.ndarray | None = None,
    keep_far: float = 3e-3,
    n_ids: int | None = None,
) -> PairScores:
    """Every pair of a gallery-side image with a probe-side image, computed in blocks.

    Without ``probe`` the gallery is paired with itself (unordered, no image with itself). With ``probe``,
    every ordered pair except an image with itself (``probe_image``/``gallery_image`` name the source image
    of each row, e.g. a masked probe and the unmasked image it was drawn on). ``probe_offset`` is each
    probe's threshold (0 if not given); the highest ``keep_far`` share of impostor pairs is kept exactly.
    """
    symmetric = probe is None
    p = gallery if probe is None else probe
    pid = gallery_id if probe_id is None else probe_id
    off = np.zeros(len(p), np.float32) if probe_offset is None else np.asarray(probe_offset, np.float32)
    n_ids = int(max(gallery_id.max(initial=-1), pid.max(initial=-1)) + 1) if n_ids is None else n_ids
    ca = np.bincount(gallery_id, minlength=n_ids)
    cb = np.bincount(pid, minlength=n_ids)
    same_pairs = int((ca * cb).sum())
    if symmetric:
        total = len(p) * (len(p) - 1) // 2
        genuine_total = int((ca * (ca - 1) // 2).sum())
    else:
        gi = np.arange(len(gallery)) if gallery_image is None else gallery_image
        pi = np.arange(len(p)) if probe_image is None else probe_image
        self_pairs = len(np.intersect1d(gi, pi))
        total = len(gallery) * len(p) - self_pairs
        genuine_total = same_pairs - self_pairs
    n_imp = total - genuine_total
    keep = max(int(math.ceil(keep_far * n_imp)), 1)
    hist = np.zeros(HIST_BINS, np.int64)
    gen: list[np.ndarray] = []
    gen_id: list[np.ndarray] = []
    top_s, top_a, top_b = np.zeros(0, np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64)
    g32 = np.ascontiguousarray(gallery, np.float32)
    for rows in _blocks(len(p)):
        s = np.asarray(p[rows], np.float32) @ g32.T  # (block probes, gallery)
        ids_p = pid[rows]
        same = ids_p[:, None] == gallery_id[None, :]
        if symmetric:
            valid = np.arange(rows.start, rows.stop)[:, None] < np.arange(len(gallery))[None, :]
        else:
            valid = (
                probe_image_of(probe_image, rows)[:, None]
                != (np.arange(len(gallery)) if gallery_image is None else gallery_image)[None, :]
            )
        imp = valid & ~same
        raw = s[imp]
        bins = np.clip(((raw - HIST_LO) / HIST_BIN).astype(np.int64), 0, HIST_BINS - 1)
        hist += np.bincount(bins, minlength=HIST_BINS)
        excess = s - off[rows, None]
        g = valid & same
        gen.append(excess[g])
        gen_id.append(np.broadcast_to(ids_p[:, None], s.shape)[g])
        e = excess[imp]
        if len(e):
            cut = max(len(e) - keep, 0)
            part = np.argpartition(e, cut)[cut:] if cut else np.arange(len(e))
            ia = np.broadcast_to(gallery_id[None, :], s.shape)[imp][part]
            ib = np.broadcast_to(ids_p[:, None], s.shape)[imp][part]
            top_s = np.concatenate([top_s, e[part]])
            top_a, top_b = np.concatenate([top_a, ia]), np.concatenate([top_b, ib])
            if len(top_s) > 2 * keep:
                order = np.argsort(-top_s, kind="stable")[:keep]
                top_s, top_a, top_b = top_s[order], top_a[order], top_b[order]
    order = np.argsort(-top_s, kind="stable")[:keep]
    return PairScores(
        genuine=np.concatenate(gen) if gen else np.zeros(0, np.float32),
        genuine_id=np.concatenate(gen_id) if gen_id else np.zeros(0, np.int64),
        impostor_pairs=n_imp,
        hist=hist,
        top=top_s[order],
        top_a=top_a[order],
        top_b=top_b[order],
        counts_a=ca,
        counts_b=cb,
        symmetric=symmetric,
    )


def probe_image_of(probe_image: np.ndarray | None, rows: slice) -> np.ndarray:
    return np.arange(rows.start, rows.stop) if probe_image is None else probe_image[rows]


def _impostor_weight(ps: PairScores, w: np.ndarray) -> np.ndarray:
    """Impostor pairs when identity i is drawn w[..., i] times (copies of one person pair as genuine)."""
    wa, wb = w * ps.counts_a, w * ps.counts_b
    cross = wa.sum(-1) * wb.sum(-1) - (wa * wb).sum(-1)
    return np.asarray(cross / 2 if ps.symmetric else cross, float)


def tar_at_far(ps: PairScores, far: float) -> dict[str, Any]:
    """TAR at ``far`` over the pairs (the threshold is the lowest with false accepts ≤ far × impostors, as in
    ``lfw._far_threshold``), with a 95 % interval over identities drawn again (threshold re-chosen)."""
    allowed = int(math.floor(far * ps.impostor_pairs))
    out: dict[str, Any] = {"far": far, "allowed_false_accepts": allowed}
    if allowed < MIN_RESOLVED or allowed >= len(ps.top) or len(ps.genuine) == 0:
        out.update({"resolved": False, "tar": None, "interval": None, "threshold_excess": None})
        return out
    thr = float(ps.top[allowed]) + 1e-9
    out.update(
        {"resolved": True, "tar": float((ps.genuine >= thr).mean()), "threshold_excess": round(thr, 5)}
    )
    out["interval"] = _tar_interval(ps, far)
    return out


def identity_draws(n_ids: int, draws: int, seed: int) -> np.ndarray:
    """(draws, n_ids) multiplicities of a bootstrap over identities."""
    rng = np.random.default_rng([seed, 0x1D])
    return rng.multinomial(n_ids, np.full(n_ids, 1.0 / n_ids), size=draws)


def _tar_interval(ps: PairScores, far: float, draws: int = 200, seed: int = 0) -> list[float] | None:
    n_ids = len(ps.counts_a)
    w = identity_draws(n_ids, draws, seed).astype(float)
    imp_w = _impostor_weight(ps, w)
    pair_w = w[:, ps.top_a] * w[:, ps.top_b]
    cw = np.cumsum(pair_w, axis=1)
    gen_w = w[:, ps.genuine_id]
    values = []
    for d in range(draws):
        allowed = far * imp_w[d]
        i = int(np.searchsorted(cw[d], allowed, side="right"))
        if i >= len(ps.top):
            continue  # the kept tail does not reach this far in this draw
        thr = ps.top[i] + 1e-9
        total = gen_w[d].sum()
        if total > 0:
            values.append(float(gen_w[d][ps.genuine >= thr].sum() / total))
    if len(values) < draws // 2:
        return None
    lo, hi = np.percentile(values, [50 * (1 - LEVEL), 50 * (1 + LEVEL)])
    return [float(lo), float(hi)]


# ---------------------------------------------------------------------------------- identification


def search(
    gallery: np.ndarray, probes: np.ndarray, block: int = BLOCK
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each probe: the best gallery row, its similarity, and the best similarity of any other row
    (the best other identity: the gallery holds one template per identity); -inf when there is none."""
    n = len(probes)
    best_row = np.zeros(n, np.int64)
    best = np.full(n, -np.inf, np.float32)
    second = np.full(n, -np.inf, np.float32)
    if len(gallery) == 0:
        return best_row, best, second
    g32 = np.ascontiguousarray(gallery, np.float32)
    for rows in _blocks(n, block):
        s = np.asarray(probes[rows], np.float32) @ g32.T
        if s.shape[1] >= 2:
            top2 = np.argpartition(-s, 1, axis=1)[:, :2]
            v = np.take_along_axis(s, top2, axis=1)
            first = v[:, 0] >= v[:, 1]
            best_row[rows] = np.where(first, top2[:, 0], top2[:, 1])
            best[rows] = np.maximum(v[:, 0], v[:, 1])
            second[rows] = np.minimum(v[:, 0], v[:, 1])
        else:
            best_row[rows] = 0
            best[rows] = s[:, 0]
    return best_row, best, second


@dataclass
class Trials:
    """Search results of probes, pooled over splits and gallery draws of one gallery size.

    ``offset``: each probe's threshold at the shipped operating point (its path's); ``cal_offset``: its
    calibrated threshold in the split it came from (for the same gallery size); ``predicted``: the FPIR the
    independence model predicts at that calibrated threshold, per probe. A probe whose face was not found
    has ``best`` = -inf.
    """

    gallery_size: int
    ident: np.ndarray  # the probe's identity
    genuine: np.ndarray  # bool: its identity is in the gallery
    correct: np.ndarray  # bool: the best row is its identity
    best: np.ndarray
    second: np.ndarray
    offset: np.ndarray
    cal_offset: dict[str, np.ndarray] = field(default_factory=dict)  # target FPIR key → thresholds
    predicted: dict[str, np.ndarray] = field(default_factory=dict)  # per probe, at cal_offset
    predicted_shipped: np.ndarray | None = None  # per probe, at offset

    @classmethod
    def concat(cls, parts: Sequence[Trials]) -> Trials:
        first = parts[0]
        cat = np.concatenate
        return cls(
            first.gallery_size,
            cat([p.ident for p in parts]),
            cat([p.genuine for p in parts]),
            cat([p.correct for p in parts]),
            cat([p.best for p in parts]),
            cat([p.second for p in parts]),
            cat([p.offset for p in parts]),
            {k: cat([p.cal_offset[k] for p in parts]) for k in first.cal_offset},
            {k: cat([p.predicted[k] for p in parts]) for k in first.predicted},
            None
            if first.predicted_shipped is None
            else cat([p.predicted_shipped for p in parts if p.predicted_shipped is not None]),
        )


def accepted(t: Trials, thresholds: np.ndarray, margin: float) -> np.ndarray:
    """The runtime's rule per probe: best ≥ threshold and best − best other ≥ margin."""
    lead = t.best - t.second >= margin - 1e-9
    return (t.best >= thresholds) & lead


def _rate(hit: np.ndarray, ident: np.ndarray, n_ids: int, w: np.ndarray | None) -> tuple[float, Any]:
    """Share of ``hit`` (point estimate) and, with ``w`` (draws × identities), its bootstrap interval."""
    if len(hit) == 0:
        return float("nan"), None
    point = float(hit.mean())
    if w is None:
        return point, None
    num = w @ np.bincount(ident, weights=hit.astype(float), minlength=n_ids)
    den = w @ np.bincount(ident, minlength=n_ids).astype(float)
    ok = den > 0
    lo, hi = np.percentile(num[ok] / den[ok], [50 * (1 - LEVEL), 50 * (1 + LEVEL)])
    return point, [float(lo), float(hi)]


def rates_at(t: Trials, thresholds: np.ndarray, margin: float, n_ids: int, w: np.ndarray | None) -> dict:
    """FPIR over strangers and FNIR (not accepted as oneself) over genuine probes at one operating point."""
    acc = accepted(t, thresholds, margin)
    s, g = ~t.genuine, t.genuine
    fp, fp_int = _rate(acc[s], t.ident[s], n_ids, w)
    fn, fn_int = _rate(~(acc[g] & t.correct[g]), t.ident[g], n_ids, w)
    return {
        "fpir": fp,
        "fpir_interval": fp_int,
        "fnir": fn,
        "fnir_interval": fn_int,
        "false_positives": int(acc[s].sum()),
        "strangers": int(s.sum()),
        "genuine_probes": int(g.sum()),
    }


def _shift_for_fpir(excess: np.ndarray, weights: np.ndarray, target: float) -> float | None:
    """The lowest shift d such that strangers with excess ≥ d weigh at most ``target`` of all strangers."""
    total = weights.sum()
    if total <= 0:
        return None
    order = np.argsort(-excess, kind="stable")
    cw = np.cumsum(weights[order])
    i = int(np.searchsorted(cw, target * total, side="right"))
    if i >= len(order):
        return float(excess.min(initial=np.inf)) if len(order) else None
    return float(excess[order[i]]) + 1e-9


def fnir_at_fpir(t: Trials, target: float, margin: float, n_ids: int, w: np.ndarray | None) -> dict:
    """FNIR when the thresholds (all paths shifted alike) are set so that FPIR = ``target`` on these
    strangers, with the threshold re-chosen in each draw of identities. Unresolved when fewer than
    MIN_RESOLVED strangers may be accepted."""
    s, g = ~t.genuine, t.genuine
    lead = t.best - t.second >= margin - 1e-9
    excess = np.where(lead, t.best - t.offset, -np.inf)
    out: dict[str, Any] = {"target_fpir": target, "strangers": int(s.sum())}
    if target * s.sum() < MIN_RESOLVED or not g.any():
        out.update({"resolved": False, "fnir": None, "interval": None, "shift": None})
        return out
    ex_s, ex_g = excess[s], excess[g]
    hit_g = t.correct[g]
    d = _shift_for_fpir(ex_s, np.ones(len(ex_s)), target)
    assert d is not None
    point = float(1.0 - (hit_g & (ex_g >= d)).mean())
    out.update({"resolved": True, "fnir": point, "shift": round(d, 5), "dir_rank1": 1.0 - point})
    if w is not None:
        vals = []
        for wd in w:
            ws, wg = wd[t.ident[s]], wd[t.ident[g]]
            dd = _shift_for_fpir(ex_s, ws, target)
            if dd is None or wg.sum() <= 0:
                continue
            vals.append(1.0 - float(wg[hit_g & (ex_g >= dd)].sum() / wg.sum()))
        lo, hi = np.percentile(vals, [50 * (1 - LEVEL), 50 * (1 + LEVEL)])
        out["interval"] = [float(lo), float(hi)]
    return out


def det_curve(t: Trials, margin: float = 0.0, points: int = 200) -> dict[str, list[float]]:
    """FNIR against FPIR as the thresholds (all paths alike) are shifted."""
    s, g = ~t.genuine, t.genuine
    lead = t.best - t.second >= margin - 1e-9
    excess = np.where(lead, t.best - t.offset, -np.inf)
    finite = excess[np.isfinite(excess)]
    if len(finite) == 0 or not s.any() or not g.any():
        return {"shift": [], "fpir": [], "fnir": []}
    shifts = np.quantile(finite, np.linspace(0, 1, points))
    fp = [float((excess[s] >= d).mean()) for d in shifts]
    fn = [float(1 - (t.correct[g] & (excess[g] >= d)).mean()) for d in shifts]
    return {"shift": [float(x) for x in shifts], "fpir": fp, "fnir": fn}


def predicted_fpir(tail: ImpostorTail, threshold: float, gallery_size: int) -> float:
    """The independence model: 1 − (1 − far(t))^N."""
    return fpir(tail.far_at(threshold), gallery_size)


def calibrated_threshold(tail: ImpostorTail, gallery_size: int, target: float) -> tuple[float, bool]:
    choice = threshold_for_fpir(tail, gallery_size, target)
    return choice.threshold, choice.resolved
