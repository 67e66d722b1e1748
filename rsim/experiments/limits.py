"""The experiments ``ode`` and ``sde``: the ResNet against its continuous-time limit.

A Hydra job is one series (a branch, i.e. model and activation) with every depth of
``depths`` computed on the same realisations: sample i's key is fold_in(PRNGKey(seed), i),
never the depth. Files, in ``<output>/<name>/``:

* ``part-<digest>.parquet``: one row per (sample, depth): ``error`` = max_k ||H_{k/L} - h_k||,
  ``error_final`` = ||H_1 - h_L||, ``h0_norm``; ode adds ``reference_gap`` (a bound on the
  reference solver's error) and sde ``sq_ratio`` = ||h_L||^2/||h_0||^2 and
  ``limit_sq_ratio`` = ||H_1||^2/||H_0||^2 (the weak check).
* ode only, ``regimes/part-<digest>.parquet``: one row per (sample, depth, beta) with
  alpha = L^-beta: ``log_hidden_diff``, ``log_hidden_maxdiff`` (as the simulator's columns)
  and ``positive_eigenvalue`` (largest real eigenvalue of V(t) over a grid of t), for
  Propositions 8 and 9.

``finish`` prints the fitted orders (:func:`rsim.limits.convergence_order`) with their
intervals, the reference solver's error bound, the Proposition 8/9 medians and the weak check,
and draws ``error_vs_depth.png``, ``regimes.png`` (ode), ``weak_check.png`` (sde).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rsim import checks, experiments, limits, models
from rsim.checks import ConfigError

KINDS = ("ode", "sde")
# Theoretical strong orders: Euler on a Lipschitz ODE, Euler-Maruyama on an SDE.
THEORY_ORDER = {"ode": 1.0, "sde": 0.5}
# alpha = L^-BETA of the scheme whose limit is taken: 1/L (ODE), 1/sqrt(L) (SDE).
BETA = {"ode": 1.0, "sde": 0.5}
# Float64 numbers of one sample's largest array (the weight path or Brownian increments) that
# a vmapped block may hold: 2^25 numbers = 256 MiB.
BLOCK_BUDGET = 2**25
REGIMES = "regimes"


@dataclasses.dataclass(frozen=True)
class LimitSpec:
    """One series of the ode or sde experiment (validated; see :func:`validate`)."""

    experiment: str
    model: str
    activation: str
    negative_slope: float
    init: str
    gain: float
    lengthscale: float | None
    width: int
    n_in: int
    depths: tuple[int, ...]
    betas: tuple[float, ...]
    samples: int
    seed: int
    tolerance: float | None
    reference_depth: int | None
    precision: str

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> LimitSpec:
        kind = values.get("experiment")
        checks.choice("experiment", kind, KINDS)
        model = values.get("model")
        if kind == "sde" and model != "res1":
            raise ConfigError(f"model={model!r} is not allowed for experiment=sde; it is res1 "
                              "(the SDE limit is for V sigma(h))")
        checks.choice("model", model, models.MODELS)
        activation = values.get("activation")
        checks.choice("activation", activation, models.ACTIVATIONS)
        if model == "res3":  # res-3's branch is ReLU(W h) whatever activation says
            activation = "relu"
        law = "smooth" if kind == "ode" else "gaussian"
        if values.get("init") != law:
            raise ConfigError(f"init={values.get('init')!r} is not allowed for "
                              f"experiment={kind}; it needs init={law}")
        for key in ("width", "n_in"):
            checks.integer(key, values.get(key), 1)
        checks.integer("samples", values.get("samples"), 2)
        checks.integer("seed", values.get("seed"), 0)
        for key in ("gain", "negative_slope"):
            checks.real(key, values.get(key))
        if values["gain"] <= 0:
            raise ConfigError(f"gain={values['gain']!r} is not allowed; it must be > 0")
        if values.get("precision") != "float64":
            raise ConfigError(f"precision={values.get('precision')!r} is not allowed for "
                              f"experiment={kind}; it needs float64 (errors reach 1e-4 and the "
                              "reference 1e-9)")
        depths = _depths(values.get("depths"))
        lengthscale = tolerance = reference_depth = None
        betas: tuple[float, ...] = ()
        if kind == "ode":
            checks.law_parameters("smooth", values.get("lengthscale"), None)
            if any(max(depths) % d for d in depths):
                raise ConfigError(f"depths={list(depths)} is not allowed; every depth must "
                                  "divide the largest (nested grids)")
            tolerance = values.get("tolerance")
            checks.real("tolerance", tolerance)
            if not 1e-14 <= tolerance <= 1e-6:
                raise ConfigError(f"tolerance={tolerance!r} is not allowed; it must be in "
                                  "[1e-14, 1e-6]")
            raw = values.get("betas")
            betas = tuple(raw) if isinstance(raw, (list, tuple)) else (raw,)
            if not betas:
                raise ConfigError("betas=[] is not allowed; give at least one finite number")
            for beta in betas:
                checks.real("betas", beta)
            finest = max(depths)
        else:
            reference_depth = values.get("reference_depth")
            checks.integer("reference_depth", reference_depth, 2)
            if reference_depth <= max(depths) or any(reference_depth % d for d in depths):
                raise ConfigError(f"reference_depth={reference_depth!r} is not allowed; it "
                                  "must be a multiple of every depth and larger than them all")
            finest = reference_depth
        width = values["width"]
        if finest * 2 * width * width > BLOCK_BUDGET:
            key = "depths" if kind == "ode" else "reference_depth"
            raise ConfigError(f"{key}: the finest grid ({finest}) x 2 d^2 (d = {width}) exceeds "
                              f"{BLOCK_BUDGET} numbers per sample; lower it or the width")
        return cls(kind, model, activation, float(values["negative_slope"]), law,
                   float(values["gain"]), lengthscale, width, values["n_in"], depths,
                   tuple(float(b) for b in betas), values["samples"], values["seed"],
                   tolerance, reference_depth, "float64")

    def identity(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["depths"], values["betas"] = list(self.depths), list(self.betas)
        return values

    def digest(self) -> str:
        text = json.dumps(self.identity(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def series(self) -> dict[str, Any]:
        """The columns shared by every row of this series (NaN where a key does not apply)."""
        values = self.identity()
        for key in ("depths", "betas", "samples", "precision"):
            values.pop(key)
        return {k: np.nan if v is None else v for k, v in values.items()}

    def block(self) -> int:
        """Samples per vmapped call: fixed by the spec, so a sample's numbers never depend
        on how many samples are run (XLA rounds differently for different batch sizes)."""
        finest = max(self.depths) if self.experiment == "ode" else self.reference_depth
        per_sample = finest * 2 * self.width**2
        return int(max(1, min(16, BLOCK_BUDGET // per_sample)))








def _depths(raw: Any) -> tuple[int, ...]:
    depths = tuple(raw) if isinstance(raw, (list, tuple)) else (raw,)
    for depth in depths:
        checks.integer("depths", depth, 1)
    if len(set(depths)) < 2:
        raise ConfigError(f"depths={list(depths)!r} is not allowed; give >= 2 distinct depths")
    return tuple(sorted(set(depths)))


# --- computing one series ---------------------------------------------------------------------

@functools.lru_cache(maxsize=16)
def _kernel(spec: LimitSpec):
    """The jit-compiled, vmapped per-sample function of a spec (one compilation per series;
    call it with ``samples`` set to 0, which it does not depend on)."""
    import jax

    static = dict(activation=spec.activation, negative_slope=spec.negative_slope,
                  width=spec.width, n_in=spec.n_in, gain=spec.gain, depths=spec.depths)
    if spec.experiment == "ode":
        one = functools.partial(limits.ode_sample, model=spec.model,
                                lengthscale=spec.lengthscale, betas=spec.betas,
                                tolerance=spec.tolerance, **static)
    else:
        one = functools.partial(limits.sde_sample, reference_depth=spec.reference_depth,
                                **static)
    return jax.jit(jax.vmap(lambda sample: one(limits.sample_key(spec.seed, sample))))


def compute(spec: LimitSpec, progress: bool = False) -> dict[str, np.ndarray]:
    """Every per-sample array of :func:`rsim.limits.ode_sample` / ``sde_sample``, stacked
    over samples 0..samples-1 (in fixed blocks, padded at the end)."""
    import jax.numpy as jnp
    from tqdm.auto import tqdm

    from rsim import engine

    block = spec.block()
    parts: list[dict[str, np.ndarray]] = []
    with engine.numerics("float64"):
        kernel = _kernel(dataclasses.replace(spec, samples=0))
        starts = range(0, spec.samples, block)
        for start in tqdm(starts, disable=not progress, leave=False, unit="block",
                          desc=f"{spec.experiment} {spec.model} {spec.activation}"):
            out = kernel(jnp.arange(start, start + block))
            parts.append({k: np.asarray(v) for k, v in out.items()})
    return {k: np.concatenate([p[k] for p in parts])[:spec.samples] for k in parts[0]}


def frames(spec: LimitSpec, out: dict[str, np.ndarray]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The error table (sample x depth) and, for ode, the regime table (sample x depth x
    beta) of a computed series."""
    n, depths = spec.samples, np.asarray(spec.depths)
    errors = pd.DataFrame({"sample": np.repeat(np.arange(n), len(depths)),
                           "depth": np.tile(depths, n)})
    per_depth = [k for k in ("error", "error_final", "sq_ratio") if k in out]
    per_sample = [k for k in ("h0_norm", "reference_gap", "limit_sq_ratio") if k in out]
    for key in per_depth:
        errors[key] = out[key].reshape(-1)
    for key in per_sample:
        errors[key] = np.repeat(out[key], len(depths))
    series = pd.DataFrame([spec.series()] * len(errors))
    errors = pd.concat([series, errors], axis=1)
    errors.insert(errors.columns.get_loc("depth") + 1, "alpha",
                  errors["depth"].astype(float) ** -BETA[spec.experiment])
    if spec.experiment != "ode":
        return errors, pd.DataFrame()
    betas = np.asarray(spec.betas)
    shape = (n, len(depths), len(betas))
    regimes = pd.DataFrame({
        "sample": np.repeat(np.arange(n), len(depths) * len(betas)),
        "depth": np.tile(np.repeat(depths, len(betas)), n),
        "beta": np.tile(betas, n * len(depths)),
    })
    regimes["alpha"] = regimes["depth"].astype(float) ** -regimes["beta"]
    for key in ("log_hidden_diff", "log_hidden_maxdiff"):
        regimes[key] = out[key].reshape(shape).reshape(-1)
    eigen = np.where(np.isfinite(out["positive_eigenvalue"]), out["positive_eigenvalue"], np.nan)
    regimes["positive_eigenvalue"] = np.repeat(eigen, len(depths) * len(betas))
    regimes = pd.concat([pd.DataFrame([spec.series()] * len(regimes)), regimes], axis=1)
    return errors, regimes


def paths(spec: LimitSpec, folder: Path) -> list[Path]:
    name = f"part-{spec.digest()}.parquet"
    found = [Path(folder) / name]
    if spec.experiment == "ode":
        found.append(Path(folder) / REGIMES / name)
    return found


def _provenance(spec: LimitSpec) -> dict:
    """What produced a file: the spec, the reference solver, versions, PRNG, device, git."""
    import platform
    from importlib import metadata

    import jax

    from rsim import engine, results

    versions = {"python": platform.python_version()}
    for package in ("jax", "jaxlib", "numpy", "pandas", "pyarrow", "diffrax"):
        versions[package] = metadata.version(package)
    if spec.experiment == "ode":
        reference = {"solver": "diffrax.Dopri8", "controller": "PIDController",
                     "rtol": spec.tolerance, "atol": spec.tolerance}
    else:
        reference = {"scheme": "Euler-Maruyama", "depth": spec.reference_depth}
    return {"spec": spec.identity(), "reference": reference, "block": spec.block(),
            "versions": versions, "prng": engine.PRNG_SETTINGS, "x64": True,
            "device": str(jax.devices()[0].device_kind),
            "git_revision": results.git_revision()}


def validate(values: dict[str, Any]) -> None:
    LimitSpec.from_mapping(values)


def run_job(values: dict[str, Any], folder: Path, progress: bool) -> Path:
    """Compute one series and write its table(s), unless they exist already."""
    from rsim import results

    spec = LimitSpec.from_mapping(values)
    targets = paths(spec, folder)
    if all(p.exists() for p in targets):
        print(f"rsim: skip {spec.experiment} {spec.model} {spec.activation}: {targets[0]} exists")
        return targets[0]
    errors, regimes = frames(spec, compute(spec, progress))
    meta = _provenance(spec)
    if spec.experiment == "ode":
        results.write(regimes, targets[1], meta)
    results.write(errors, targets[0], meta)  # last: its presence means the series is done
    print(f"rsim: wrote {len(errors)} rows to {targets[0]}")
    return targets[0]


# --- summary and figures ----------------------------------------------------------------------

def _label(row) -> str:
    return f"{row['model']} {row['activation']}"


def order_lines(frame: pd.DataFrame) -> list[str]:
    """One line per series: the fitted order with its interval (and the solver's bound)."""
    lines = []
    columns = limits.series_columns(frame)
    for _, group in frame.groupby(columns, dropna=False, sort=True):
        first = group.iloc[0]
        fit = limits.convergence_order(group)
        line = (f"rsim: {first['experiment']} {_label(first)} d={first['width']}: strong "
                f"{fit} (theory {THEORY_ORDER[first['experiment']]:g})")
        depths = sorted(group["depth"].unique())
        if len(depths) >= 4:  # the smallest depths can be pre-asymptotic: show the fit without
            upper = limits.convergence_order(group[group["depth"] >= depths[2]])
            line += (f"; without L < {depths[2]}: {upper.order:.3f} "
                     f"[{upper.low:.3f}, {upper.high:.3f}]")
        if "reference_gap" in group:
            line += (f"; reference solver: max ||H(tol) - H(100 tol)|| = "
                     f"{group['reference_gap'].max():.1e} (bounds its error) vs smallest Euler "
                     f"error {group['error'].min():.1e}")
        lines.append(line)
    return lines


def weak_check(frame: pd.DataFrame) -> pd.DataFrame:
    """Monte Carlo means (with standard errors) against their exact values, for every identity
    series of an sde table: ||h_L||^2/||h_0||^2 against (1 + gain^2/L)^L at each depth
    ("resnet"), ||H_1||^2/||H_0||^2 against exp(gain^2) ("limit") and
    log(||H_1||^2/||H_0||^2) against gain^2 (1 - 2/d) ("limit log", exactly normal)."""
    rows = []
    identity = frame[frame["activation"] == "identity"]
    for (gain, width), series in identity.groupby(["gain", "width"]):
        checks = [("resnet", depth, group["sq_ratio"].to_numpy(),
                   limits.euler_maruyama_second_moment(gain, depth))
                  for depth, group in series.groupby("depth")]
        limit = series.groupby("sample")["limit_sq_ratio"].first().to_numpy()
        reference = int(series["reference_depth"].iloc[0])
        checks.append(("limit", reference, limit, limits.linear_sde_second_moment(gain)))
        checks.append(("limit log", reference, np.log(limit),
                       limits.linear_sde_log_moments(gain, width)[0]))
        for what, depth, values, exact in checks:
            mean, se = values.mean(), values.std(ddof=1) / math.sqrt(len(values))
            rows.append({"gain": gain, "width": width, "what": what, "depth": depth,
                         "mean": mean, "se": se, "exact": exact, "z": (mean - exact) / se,
                         "samples": len(values)})
    return pd.DataFrame(rows)


def regime_lines(regimes: pd.DataFrame) -> list[str]:
    """Propositions 8 and 9: median r_h and max_k r_h at the smallest and largest depth."""
    lines = []
    low, high = regimes["depth"].min(), regimes["depth"].max()
    for (model, activation), group in regimes.groupby(["model", "activation"]):
        positive = (group["positive_eigenvalue"] > 0).groupby(group["sample"]).first().mean()
        lines.append(f"rsim: {model} {activation}: median r_h = ||h_L - h_0||/||h_0|| and "
                     f"max_k r_h, L = {low} -> {high} ({positive:.0%} of samples have V(t) "
                     "with a positive eigenvalue)")
        for beta, rows in group.groupby("beta"):
            med = rows.groupby("depth")[["hidden_diff", "hidden_maxdiff"]].median()
            lines.append(f"  beta={beta:g}: r_h {med.loc[low, 'hidden_diff']:.3g} -> "
                         f"{med.loc[high, 'hidden_diff']:.3g}, max_k r_h "
                         f"{med.loc[low, 'hidden_maxdiff']:.3g} -> "
                         f"{med.loc[high, 'hidden_maxdiff']:.3g}")
    return lines


def error_figure(frame: pd.DataFrame, path: Path) -> Path:
    """Error against L, log-log, per series: samples (thin), mean, fitted line, theory slope."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = limits.series_columns(frame)
    groups = list(frame.groupby(columns, dropna=False, sort=True))
    fig, axes = plt.subplots(1, len(groups), figsize=(4.5 * len(groups), 4), squeeze=False)
    for ax, (_, group) in zip(axes[0], groups):
        first = group.iloc[0]
        fit = limits.convergence_order(group)
        cube = group.pivot_table(index="sample", columns="depth", values="error")
        depths = cube.columns.to_numpy(float)
        for _, row in cube.head(40).iterrows():
            ax.plot(depths, row.to_numpy(), color="0.7", lw=0.5)
        ax.plot(depths, fit.mean_errors, "o", color="C0", label="mean over samples")
        ax.plot(depths, np.exp(fit.intercept) * depths**fit.slope, color="C0",
                label=f"fit: slope {fit.slope:.3f} [{-fit.high:.3f}, {-fit.low:.3f}]")
        p = THEORY_ORDER[first["experiment"]]
        anchor = np.exp(np.log(fit.mean_errors).mean() + p * np.log(depths).mean())
        ax.plot(depths, anchor * depths**-p, "k--", lw=1, label=f"slope -{p:g}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("depth L")
        ax.set_ylabel(r"$\max_k \|H_{k/L} - h_k\|$")
        ax.set_title(f"{first['experiment'].upper()}: {_label(first)}, d = {first['width']}, "
                     f"{fit.n_samples} samples", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def regimes_figure(regimes: pd.DataFrame, path: Path) -> Path:
    """Propositions 8 and 9: median r_h (top) and max_k r_h (bottom) against L per beta, with
    10-90% bands; max_k r_h over the samples whose V(t) has a positive real eigenvalue."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(regimes.groupby(["model", "activation"]))
    fig, axes = plt.subplots(2, len(groups), figsize=(4.5 * len(groups), 7), squeeze=False)
    for col, ((model, activation), group) in enumerate(groups):
        for row, (metric, label) in enumerate(
                (("hidden_diff", r"$r_h = \|h_L - h_0\| / \|h_0\|$"),
                 ("hidden_maxdiff", r"$\max_k \|h_k - h_0\| / \|h_0\|$"))):
            ax = axes[row, col]
            rows = group if row == 0 else group[group["positive_eigenvalue"] > 0]
            for beta, by_beta in rows.groupby("beta"):
                q = by_beta.groupby("depth")[metric].quantile([0.1, 0.5, 0.9]).unstack()
                line, = ax.plot(q.index, q[0.5], "o-", ms=3, label=rf"$\beta$ = {beta:g}")
                ax.fill_between(q.index, q[0.1], q[0.9], color=line.get_color(), alpha=0.2)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("depth L")
            ax.set_ylabel(label)
            which = "" if row == 0 else ", V(t) with a positive eigenvalue"
            ax.set_title(f"{model} {activation}, smooth weights{which}", fontsize=9)
            ax.legend(fontsize=7)
    fig.suptitle(r"Propositions 8-9: $\alpha = L^{-\beta}$; $\beta$ = 1 is critical for "
                 "smooth weights (median, 10-90% band)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def weak_figure(table: pd.DataFrame, path: Path) -> Path:
    """E||h_L||^2/||h_0||^2 with +-2 SE against L, the exact (1 + gain^2/L)^L and the limit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for (gain, width), group in table.groupby(["gain", "width"]):
        net = group[group["what"] == "resnet"]
        limit = group[group["what"] == "limit"].iloc[0]
        ax.errorbar(net["depth"], net["mean"], yerr=2 * net["se"], fmt="o", ms=3,
                    label=f"ResNet, Monte Carlo ±2 SE (g² = {gain**2:g}, d = {width})")
        ax.plot(net["depth"], net["exact"], "k-", lw=1, label=r"exact $(1 + g^2/L)^L$")
        ax.axhline(limit["exact"], color="C3", ls="--", lw=1, label=r"SDE: $e^{g^2}$")
        ax.errorbar([limit["depth"]], [limit["mean"]], yerr=[2 * limit["se"]], fmt="s",
                    color="C3", label="reference H_1, ±2 SE")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("depth L")
    ax.set_ylabel(r"$E\|h_L\|^2 / \|h_0\|^2$")
    ax.set_title("SDE weak check, res1 identity", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def finish(folder: Path, figures: bool) -> None:
    """Print the orders (and the Proposition 8/9 or weak-check tables); draw the figures."""
    from rsim import results

    folder = Path(folder)
    frame = results.load(folder)
    for line in order_lines(frame):
        print(line)
    limits.convergence_orders(frame).to_csv(folder / "orders.csv", index=False)
    drawn = [error_figure(frame, folder / "error_vs_depth.png")] if figures else []
    if (folder / REGIMES).is_dir() and results.result_files(folder / REGIMES):
        regimes = results.load(folder / REGIMES)
        for line in regime_lines(regimes):
            print(line)
        if figures:
            drawn.append(regimes_figure(regimes, folder / "regimes.png"))
    if "limit_sq_ratio" in frame and (frame["activation"] == "identity").any():
        table = weak_check(frame)
        table.to_csv(folder / "weak_check.csv", index=False)
        for _, row in table.iterrows():
            quantity = ("E log(||H_1||^2/||H_0||^2)" if row["what"] == "limit log"
                        else "E||h_L||^2/||h_0||^2")
            print(f"rsim: weak check ({row['what']}, L = {row['depth']}): {quantity} = "
                  f"{row['mean']:.4f} ± {row['se']:.4f} (SE) vs exact {row['exact']:.4f}, "
                  f"z = {row['z']:+.2f}")
        if figures:
            drawn.append(weak_figure(table, folder / "weak_check.png"))
    for path in drawn:
        print(f"rsim: figure {path}")


EXPERIMENT = experiments.Experiment(validate=validate, run_job=run_job, finish=finish)
