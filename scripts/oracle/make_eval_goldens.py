#!/usr/bin/env python3
"""Write the scikit-learn goldens that Tests/EPEvalsTests checks EPEvals against.

  auroc.json     roc_auc_score on fixed cases: many ties, all-tied, perfect and inverse separation, random scores.
  logistic.json  LogisticRegression(penalty='l2', C, fit_intercept=True) on fixed data sets: dense Gaussian,
                 activation-like offsets and scales (raw and standardised), near-separable, imbalanced, one-hot
                 regions (with and without values, raw and standardised), and one-vs-rest multiclass.
  methods.json   the evaluation protocols on small ragged "texts" (rows of positions) and a basis of unit
                 directions, recomputed here with numpy and scikit-learn: concept detection (cosine readout, both
                 region selection rules, max-over-positions AUROC, token-level DiffMean and probe), sparse probing
                 (mean-pooled raw, one-hot and signed features, top-k by class-mean difference, probe accuracy), and
                 SciPy's Spearman and Pearson correlations with ties.

The reference solution of each probe is the exact optimum of the objective (newton-cholesky at tol 1e-12; the
script checks that its gradient is at rounding level; lbfgs even at tol 1e-12 stops early on ill-conditioned data, by
its relative-objective test, and its distance from the optimum is recorded). The result of
scikit-learn's default lbfgs stopping rule (tol 1e-4, max_iter 1000 as SAEBench uses) is recorded too, to show how far
an early-stopped probe is from the optimum.

Every feature value is a multiple of 1/128 with a short decimal form, so float32 and float64 hold it exactly and
the Swift side sees the very numbers scikit-learn saw. Needs numpy and scikit-learn (pip install scikit-learn);
CI does not run it: the JSON files are committed.

  python3 scripts/oracle/make_eval_goldens.py [--out Tests/EPEvalsTests/Goldens] [--only methods.json]
"""
import argparse
import json
import os

import numpy as np
import scipy.stats
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def dyadic(x):
    """Round to a multiple of 1/128 (exact in float32 and float64)."""
    return np.round(np.asarray(x, dtype=np.float64) * 128) / 128


def auroc_cases(rng):
    cases = []

    def add(name, scores, labels):
        scores = [float(s) for s in scores]
        labels = [bool(y) for y in labels]
        cases.append({"name": name, "scores": scores, "labels": labels, "auroc": float(roc_auc_score(labels, scores))})

    labels = rng.random(300) < 0.4
    add("integer_scores_many_ties", np.clip(np.round(rng.normal(labels * 1.0, 1.2)) + 2, 0, 4), labels)
    labels = rng.random(50) < 0.5
    labels[0], labels[1] = True, False
    add("all_scores_tied", np.full(50, 0.25), labels)
    add("perfect_separation", [0.1, 0.2, 0.3, 0.35, 0.9, 1.5, 2.0], [False, False, False, False, True, True, True])
    add("inverse_separation", [3.0, 2.5, 2.0, -1.0, -2.0, -2.5], [True, True, True, False, False, False])
    add("perfect_with_boundary_tie", [0.0, 1.0, 2.0, 2.0, 3.0, 4.0], [False, False, False, True, True, True])
    labels = rng.random(1000) < 0.3
    add("random_continuous", rng.normal(labels * 0.7, 1.0), labels)
    labels = rng.random(2000) < 0.05
    add("imbalanced_rounded_ties", dyadic(np.round(rng.normal(labels * 0.5, 1.0), 1)), labels)
    labels = rng.random(400) < 0.5
    add("negative_and_large_scores", dyadic(rng.normal(labels * 3.0 - 100, 20.0)), labels)
    return cases


def exact_fit(X, y, C, standardize):
    """The optimum, to rounding: newton-cholesky at tol 1e-12, checked by its gradient."""
    def model(solver, tol, max_iter):
        lr = LogisticRegression(C=C, solver=solver, tol=tol, max_iter=max_iter)
        return make_pipeline(StandardScaler(), lr) if standardize else lr

    exact = model("newton-cholesky", 1e-12, 1000).fit(X, y)
    lbfgs_tight = model("lbfgs", 1e-12, 100000).fit(X, y)
    default = model("lbfgs", 1e-4, 1000).fit(X, y)
    lr = exact[-1] if standardize else exact
    Z = exact[0].transform(X) if standardize else X
    w, b = lr.coef_[0], lr.intercept_[0]
    p = 1 / (1 + np.exp(-(Z @ w + b)))
    n = len(y)
    gradient = np.concatenate([Z.T @ (p - y) / n + w / (C * n), [np.mean(p - y)]])
    assert np.max(np.abs(gradient)) < 1e-9, f"newton-cholesky did not reach the optimum: {np.max(np.abs(gradient))}"
    tight = lbfgs_tight[-1] if standardize else lbfgs_tight
    # lbfgs stops on its ftol (relative objective change) before a tight gtol on ill-conditioned data, so this gap
    # measures lbfgs, not the reference.
    gap = float(np.max(np.abs(tight.coef_[0] - w)))
    return exact, default, float(np.max(np.abs(gradient))), gap


def binary_case(name, C, standardize, train, test, kind="dense"):
    """train/test: (features dict for JSON, dense matrix for sklearn, labels)."""
    (train_json, X, y), (test_json, Xt, yt) = train, test
    exact, default, gradient, lbfgs_gap = exact_fit(X, y, C, standardize)
    lr = exact[-1] if standardize else exact
    default_lr = default[-1] if standardize else default
    case = {
        "name": name, "kind": kind, "C": C, "standardize": standardize,
        "train": dict(train_json, labels=[bool(v) for v in y]),
        "test": dict(test_json, labels=[bool(v) for v in yt]),
        "coef": [float(v) for v in lr.coef_[0]],
        "intercept": float(lr.intercept_[0]),
        "decision_test": [float(v) for v in exact.decision_function(Xt)],
        "proba_test": [float(v) for v in exact.predict_proba(Xt)[:, 1]],
        "accuracy_train": float(exact.score(X, y)),
        "accuracy_test": float(exact.score(Xt, yt)),
        "reference_gradient_max": gradient,
        "lbfgs_tol_1e-12_max_abs_coef_difference_from_optimum": lbfgs_gap,
        "sklearn_default_lbfgs": {
            "n_iter": int(default_lr.n_iter_[0]),
            "accuracy_test": float(default.score(Xt, yt)),
            "max_abs_coef_difference_from_optimum": float(np.max(np.abs(default_lr.coef_[0] - lr.coef_[0]))),
        },
    }
    if standardize:
        case["scaler_mean"] = [float(v) for v in exact[0].mean_]
        case["scaler_scale"] = [float(v) for v in exact[0].scale_]
    return case


def dense(X, y):
    X = dyadic(X)
    return {"rows": X.tolist()}, X, np.asarray(y, dtype=np.int64)


def one_hot(regions, width, y, values=None):
    X = np.zeros((len(regions), width))
    vals = np.ones(len(regions)) if values is None else dyadic(values)
    X[np.arange(len(regions)), regions] = vals
    features = {"regions": [int(r) for r in regions], "width": width}
    if values is not None:
        features["values"] = [float(v) for v in vals]
    return features, X, np.asarray(y, dtype=np.int64)


def gaussian_pair(rng, n, d, shift, prevalence=0.5):
    y = rng.random(n) < prevalence
    X = rng.normal(0, 1, (n, d)) + np.outer(y, shift)
    return X, y


def logistic_cases(rng):
    cases = []
    d = 8
    shift = rng.normal(0, 0.6, d)
    cases.append(binary_case("dense_gaussian", 1.0, False,
                             dense(*gaussian_pair(rng, 240, d, shift)), dense(*gaussian_pair(rng, 120, d, shift))))

    # Activation-like: large per-feature offsets and very different scales.
    d = 12
    offsets, scales = rng.uniform(-40, 60, d), np.exp(rng.uniform(np.log(0.05), np.log(8), d))
    shift = rng.normal(0, 0.5, d)

    def activation_like(n):
        X, y = gaussian_pair(rng, n, d, shift)
        return X * scales + offsets, y

    train, test = dense(*activation_like(300)), dense(*activation_like(150))
    cases.append(binary_case("dense_offsets_and_scales", 0.1, False, train, test))
    cases.append(binary_case("dense_offsets_and_scales_standardized", 0.1, True, train, test))

    d = 5
    shift = np.array([2.5, -2.0, 1.5, 0.0, 1.0])
    cases.append(binary_case("dense_near_separable", 100.0, False,
                             dense(*gaussian_pair(rng, 200, d, shift)), dense(*gaussian_pair(rng, 100, d, shift))))

    d = 6
    shift = rng.normal(0.8, 0.3, d)
    cases.append(binary_case("dense_imbalanced", 1.0, False,
                             dense(*gaussian_pair(rng, 400, d, shift, 0.08)), dense(*gaussian_pair(rng, 200, d, shift, 0.08))))

    # One-hot regions: region 14 never used, region 3 only positive, region 7 only negative.
    width = 15
    rate = rng.uniform(0.1, 0.9, width)
    rate[3], rate[7] = 1.0, 0.0

    def regions_sample(n):
        regions = rng.integers(0, width - 1, n)
        y = rng.random(n) < rate[regions]
        return regions, y

    r, y = regions_sample(400)
    rt, yt = regions_sample(200)
    cases.append(binary_case("onehot_regions", 1.0, False, one_hot(r, width, y), one_hot(rt, width, yt), "onehot"))
    cases.append(binary_case("onehot_regions_standardized", 1.0, True, one_hot(r, width, y), one_hot(rt, width, yt), "onehot"))
    values, values_t = rng.uniform(0.25, 5, len(r)), rng.uniform(0.25, 5, len(rt))
    cases.append(binary_case("onehot_regions_with_values", 0.5, False,
                             one_hot(r, width, y, values), one_hot(rt, width, yt, values_t), "onehot"))
    return cases


def multiclass_case(rng):
    d, k = 4, 3
    centres = rng.normal(0, 1.2, (k, d))

    def sample(n):
        y = rng.integers(0, k, n)
        return dyadic(rng.normal(0, 1, (n, d)) + centres[y]), y

    X, y = sample(300)
    Xt, yt = sample(150)
    ovr = OneVsRestClassifier(LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12, max_iter=1000)).fit(X, y)
    return {
        "name": "ovr_three_classes", "C": 1.0,
        "train": {"rows": X.tolist(), "labels": [int(v) for v in y]},
        "test": {"rows": Xt.tolist(), "labels": [int(v) for v in yt]},
        "coef": [[float(v) for v in e.coef_[0]] for e in ovr.estimators_],
        "intercept": [float(e.intercept_[0]) for e in ovr.estimators_],
        "predictions_test": [int(v) for v in ovr.predict(Xt)],
        "accuracy_test": float(ovr.score(Xt, yt)),
    }


def exact_lr(X, y, C=1.0):
    return LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X, y)


def ragged_texts(rng, n_texts, d, shift, lengths=(3, 12)):
    """Texts of 3-12 positions; a positive text has the concept at a few of its positions."""
    labels = np.arange(n_texts) % 2 == 0
    rng.shuffle(labels)
    offsets, rows = [0], []
    offset_vec = rng.uniform(-3, 3, d)
    for positive in labels:
        n = int(rng.integers(lengths[0], lengths[1] + 1))
        X = rng.normal(0, 1, (n, d)) + offset_vec
        if positive:
            hits = rng.random(n) < 0.3
            hits[rng.integers(0, n)] = True
            X[hits] += shift
        rows.append(X)
        offsets.append(offsets[-1] + n)
    return dyadic(np.concatenate(rows)), offsets, labels


def unit_rows(rng, k, d):
    B = rng.normal(0, 1, (k, d))
    return B / np.linalg.norm(B, axis=1, keepdims=True)


def method_cases(rng):
    d, k = 6, 7
    shift = rng.normal(0, 0.6, d)
    X, offsets, labels = ragged_texts(rng, 90, d, shift)
    # Basis: unit directions in float32 (what the Swift side reads), one of them near the concept's shift.
    B = unit_rows(rng, k, d)
    B[4] = shift / np.linalg.norm(shift) + rng.normal(0, 0.15, d)
    B = (B / np.linalg.norm(B, axis=1, keepdims=True)).astype(np.float32).astype(np.float64)
    center = dyadic(rng.normal(0, 0.5, d) + X.mean(axis=0))
    n_texts = len(labels)
    train = [t for t in range(n_texts) if t % 3 != 0]
    test = [t for t in range(n_texts) if t % 3 == 0]
    owner = np.concatenate([[t] * (offsets[t + 1] - offsets[t]) for t in range(n_texts)])
    xc = X - center
    cos = (xc @ B.T) / np.maximum(np.linalg.norm(xc, axis=1, keepdims=True), 1e-12)
    maxima = np.array([cos[offsets[t]:offsets[t + 1]].max(axis=0) for t in range(n_texts)])
    rows_of = lambda texts: np.concatenate([np.arange(offsets[t], offsets[t + 1]) for t in texts])
    tr_rows, te_rows = rows_of(train), rows_of(test)
    tr_row_labels = labels[owner[tr_rows]]
    contrast = cos[tr_rows][tr_row_labels].mean(axis=0) - cos[tr_rows][~tr_row_labels].mean(axis=0)
    train_auroc = np.array([roc_auc_score(labels[train], maxima[train, j]) for j in range(k)])
    by_rule = {"contrast": int(np.argmax(contrast)), "max-auroc": int(np.argmax(train_auroc))}

    def text_max(per_row, texts):
        return np.array([per_row[offsets[t]:offsets[t + 1]].max() for t in texts])

    diff = X[tr_rows][tr_row_labels].mean(axis=0) - X[tr_rows][~tr_row_labels].mean(axis=0)
    u = diff / np.linalg.norm(diff)
    probe = exact_lr(X[tr_rows], tr_row_labels.astype(np.int64))
    concept = {
        "rows": X.tolist(), "offsets": offsets, "labels": [bool(v) for v in labels], "train": train, "test": test,
        "center": center.tolist(), "basis": B.tolist(),
        "contrast": contrast.tolist(), "train_auroc": train_auroc.tolist(),
        "selected": by_rule,
        "test_auroc": {rule: float(roc_auc_score(labels[test], maxima[test, j])) for rule, j in by_rule.items()},
        "diffmean_test_auroc": float(roc_auc_score(labels[test], text_max(X @ u, test))),
        "probe_test_auroc": float(roc_auc_score(labels[test], text_max(probe.decision_function(X), test))),
    }

    # Sparse probing: mean-pooled features, top-k by |class-mean difference|, exact probe accuracy.
    d, k = 8, 6
    shift = rng.normal(0, 0.9, d)
    X, offsets, labels = ragged_texts(rng, 160, d, shift, (2, 9))
    B = unit_rows(rng, k, d).astype(np.float32).astype(np.float64)
    center = dyadic(X.mean(axis=0) + rng.normal(0, 0.3, d))
    n_texts = len(labels)
    train = [t for t in range(n_texts) if t % 4 != 0]
    test = [t for t in range(n_texts) if t % 4 == 0]
    pooled = np.array([X[offsets[t]:offsets[t + 1]].mean(axis=0) for t in range(n_texts)])
    xc = X - center
    cos = (xc @ B.T) / np.maximum(np.linalg.norm(xc, axis=1, keepdims=True), 1e-12)
    nearest = cos.argmax(axis=1)
    onehot = np.zeros((n_texts, k))
    for t in range(n_texts):
        for r in range(offsets[t], offsets[t + 1]):
            onehot[t, nearest[r]] += 1 / (offsets[t + 1] - offsets[t])
    signed = (pooled - center) @ B.T
    y = labels.astype(np.int64)
    features = {}
    for name, F in [("raw", pooled), ("one-hot", onehot), ("signed", signed)]:
        Ftr, Fte = F[train], F[test]
        entry = {"all": float(exact_lr(Ftr, y[train]).score(Fte, y[test])), "top_k": []}
        difference = np.abs(Ftr[y[train] == 1].mean(axis=0) - Ftr[y[train] == 0].mean(axis=0))
        order = sorted(range(F.shape[1]), key=lambda j: (-difference[j], j))
        for kk in (1, 2):
            chosen = order[:kk]
            model = exact_lr(Ftr[:, chosen], y[train])
            entry["top_k"].append({"k": kk, "features": chosen, "accuracy": float(model.score(Fte[:, chosen], y[test]))})
        features[name] = entry
    probing = {
        "rows": X.tolist(), "offsets": offsets, "labels": [bool(v) for v in labels], "train": train, "test": test,
        "center": center.tolist(), "basis": B.tolist(), "features": features,
    }

    # Correlations with ties (ranks averaged), as scipy computes them.
    a = np.round(rng.normal(0, 1, 200), 1)
    b = np.round(0.6 * a + rng.normal(0, 1, 200), 1)
    correlation = {"x": a.tolist(), "y": b.tolist(), "spearman": float(scipy.stats.spearmanr(a, b).statistic),
                   "pearson": float(scipy.stats.pearsonr(a, b).statistic)}
    return {"concept": concept, "probing": probing, "correlation": correlation}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="Tests/EPEvalsTests/Goldens")
    parser.add_argument("--only", help="write only this file (auroc.json, logistic.json or methods.json)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(20240607)
    provenance = f"scripts/oracle/make_eval_goldens.py, scikit-learn {sklearn.__version__}, numpy {np.__version__}"
    outputs = {
        "auroc.json": {"generator": provenance, "cases": auroc_cases(rng)},
        "logistic.json": {"generator": provenance, "cases": logistic_cases(rng), "multiclass": [multiclass_case(rng)]},
        # Its own generator, so that adding it left the other files' random draws unchanged.
        "methods.json": dict({"generator": provenance + f", scipy {scipy.__version__}"}, **method_cases(np.random.default_rng(20240608))),
    }
    for name, content in outputs.items():
        if args.only and name != args.only:
            continue
        path = os.path.join(args.out, name)
        with open(path + ".tmp", "w") as f:
            json.dump(content, f, separators=(",", ":"))
            f.write("\n")
        os.replace(path + ".tmp", path)
        print(f"{path}: {os.path.getsize(path)} bytes")
    for case in outputs["logistic.json"]["cases"] if args.only in (None, "logistic.json") else []:
        default = case["sklearn_default_lbfgs"]
        print(f"  {case['name']}: test accuracy {case['accuracy_test']:.4f} at the optimum, "
              f"{default['accuracy_test']:.4f} with default lbfgs ({default['n_iter']} iterations, "
              f"coef off by {default['max_abs_coef_difference_from_optimum']:.2e})")


if __name__ == "__main__":
    main()
