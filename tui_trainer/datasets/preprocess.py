"""Preprocessing fit on the training split only and applied to every split.

Steps, in the order a preset lists them (CS231n's "Data preprocessing"):
  mean     subtract the per-feature mean
  std      divide by the per-feature standard deviation (features with none are left alone)
  pca:K    project onto the top K principal components (centred)
  whiten   project onto all principal components and divide by sqrt(eigenvalue + eps)

The fitted statistics are plain arrays (`state()`), saved with every run, so a
saved model can be evaluated later on raw inputs (`Preprocessor.from_state`).
"""

from __future__ import annotations

import numpy as np

WHITEN_EPS = 1e-5
_CHUNK = 4096


class Preprocessor:
    def __init__(self, steps: tuple[str, ...] | list[str]):
        self.steps = tuple(steps)
        self.stats: list[dict[str, np.ndarray]] = []

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        """Fit each step on X (N, D) float32, then apply it; works in place where the width is kept."""
        self.stats = []
        for step in self.steps:
            s = _fit(step, X)
            self.stats.append(s)
            X = _apply(step, s, X)
        return X

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Apply the fitted steps to X (N, D) float32; in place where the width is kept."""
        for step, s in zip(self.steps, self.stats):
            X = _apply(step, s, X)
        return X

    def state(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {"steps": np.array(self.steps, dtype=str)}
        for i, s in enumerate(self.stats):
            for k, v in s.items():
                out[f"{i}.{k}"] = v
        return out

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> Preprocessor:
        p = cls([str(s) for s in state["steps"]])
        p.stats = [
            {k.split(".", 1)[1]: v for k, v in state.items() if k.startswith(f"{i}.")} for i in range(len(p.steps))
        ]
        return p


def _fit(step: str, X: np.ndarray) -> dict[str, np.ndarray]:
    if step == "mean":
        return {"mean": X.mean(axis=0, dtype=np.float64).astype(np.float32)}
    if step == "std":
        std = X.std(axis=0, dtype=np.float64)
        std[std < 1e-8] = 1.0  # constant features (MNIST's border pixels) stay as they are
        return {"std": std.astype(np.float32)}
    if step.startswith("pca:") or step == "whiten":
        mean = X.mean(axis=0, dtype=np.float64)
        cov = np.zeros((X.shape[1], X.shape[1]), np.float64)
        for start in range(0, X.shape[0], _CHUNK):
            c = X[start : start + _CHUNK].astype(np.float64) - mean
            cov += c.T @ c
        cov /= max(X.shape[0] - 1, 1)
        eigvals, eigvecs = np.linalg.eigh(cov)
        order = np.argsort(eigvals)[::-1]
        eigvals, eigvecs = eigvals[order], eigvecs[:, order]
        if step == "whiten":
            proj = eigvecs / np.sqrt(np.maximum(eigvals, 0) + WHITEN_EPS)
        else:
            proj = eigvecs[:, : int(step.split(":")[1])]
        return {"mean": mean.astype(np.float32), "projection": proj.astype(np.float32)}
    raise ValueError(f"unknown preprocessing step {step!r}")


def _apply(step: str, s: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    if step == "mean":
        X -= s["mean"]
        return X
    if step == "std":
        X /= s["std"]
        return X
    out = np.empty((X.shape[0], s["projection"].shape[1]), np.float32)
    for start in range(0, X.shape[0], _CHUNK):
        c = X[start : start + _CHUNK] - s["mean"]
        np.matmul(c, s["projection"], out=out[start : start + _CHUNK])
    return out
