"""Paper 002 (reinjection sampling of lossy autoencoders) on MNIST: Table I.

Protocol (paper 002 §IV, Alg. 2 and its restart heuristic):

1. Each autoencoder is sampled by reinjection, x_{n+1} = r(x_n) + sqrt(lambda) eps, from
   x_0 ~ N(0, I), restarting every R steps and keeping the samples after the second restart
   (``config.models.<name>.sampler.reinjection_*``).
2. :func:`gae_jax.evaluation.synthetic_data_protocol` labels the samples with a ground-truth
   [500, 500] classifier trained on the real data, trains a fresh classifier of the same shape
   on the first n labelled samples for each n in ``sample_counts``, and scores it on the real
   test set; lower bound: N(0, I) inputs labelled the same way; upper bound: n real examples.
   All autoencoders share one ground truth and one pair of bounds.

Table I reports the accuracy at the largest n next to the paper's final accuracies.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from gae_jax import builders, evaluation, models, plotting, samplers
from gae_jax.jobs.reproduce.common import Context, Result, Trained, binomial_stderr, rng
from gae_jax.jobs.reproduce.common import save_output as _save
from gae_jax.jobs.reproduce.tables import Entry

TITLE = "Paper 002 (reinjection sampling): MNIST Table I"


class PaperRow(NamedTuple):
    label: str
    epochs: int
    accuracy: float


# Paper 002 Table I, MNIST ("acc: classifiers").
PAPER = {
    "deep_ae": PaperRow("Deep AE [600,400,100,400,600] relu", 200, 0.978),
    "shallow_ae": PaperRow("Shallow AE [32] tanh", 50, 0.975),
    "deep_dae": PaperRow("Deep DAE [600,400,100,400,600] relu, σ 0.5", 200, 0.978),
    "shallow_dae": PaperRow("Shallow DAE [32] tanh, σ 0.5", 100, 0.965),
}
PAPER_LOWER_BOUND = 0.925
PAPER_GROUND_TRUTH = 0.98
PAPER_GROUND_TRUTH_EPOCHS = 20
LOWER_LABEL = "Random generator N(0, I) (lower bound)"
UPPER_LABEL = "Real data (upper bound)"
TRUTH_LABEL = "Ground-truth classifier [500,500] relu"


def reinjection_samples(
    rng_key: jax.Array, trained: Trained, num_samples: int, image_shape: tuple[int, int, int]
) -> np.ndarray:
    """The first ``num_samples`` kept samples of reinjection chains (step-major, so every chain
    contributes to any prefix), with the model's ``sampler.reinjection_*`` settings.

    Returns:
      float32[num_samples, H, W, C], r(x) + noise as in Alg. 2 (not clipped to [0, 1]).
    """
    s = trained.cfg.sampler
    restart_every = s.reinjection_restart_every or None
    num_steps = samplers.steps_for_samples(
        num_samples, s.reinjection_chains, restart_every, s.reinjection_burn_in_restarts
    )
    k_init, k_chain = jax.random.split(rng_key)
    x0 = samplers.starts.normal_noise(k_init, s.reinjection_chains, image_shape)
    fns = builders.sampler_fns(trained.model, s)
    run = builders.run_chains(
        s,
        builders.reinjection_kernel(
            fns, s, reconstruction_loss=trained.cfg.model.reconstruction_loss
        ),
        models.model_variables(trained.state),
        x0,
        num_steps,
        tuple(range(1, num_steps + 1)),
        lambda state, info: (state.x, info.kept),
        k_chain,
        name="reinjection",
    )
    xs, kept = run.trace
    return np.asarray(xs)[np.asarray(kept)][:num_samples]


def evaluate(ctx: Context) -> Result:
    """Samples every model, runs the classifier protocol once for all of them and writes
    ``accuracy_vs_samples.png`` and ``samples_*.png``."""
    train, test = ctx.data.train, ctx.data.test
    counts = ctx.table.sample_counts
    synthetic = {}
    for name, trained in ctx.models.items():
        synthetic[name] = reinjection_samples(
            rng(ctx.seed, name, "reinjection"), trained, counts[-1], train.image_shape
        )
        label = PAPER[name].label if name in PAPER else name
        _save(
            f"{ctx.workdir}/samples_{name}.png",
            plotting.save_grid,
            synthetic[name][:64],
            f"{label}: reinjection samples (clipped to [0, 1])",
        )
    curves = evaluation.synthetic_data_protocol(
        rng(ctx.seed, "classifiers"),
        synthetic,
        train.images,
        train.labels,
        test.images,
        test.labels,
        sample_counts=counts,
        num_classes=int(train.labels.max()) + 1,
        num_steps=ctx.table.classifier_steps,
        batch_size=ctx.table.classifier_batch_size,
    )

    table = (
        f"Table I: test accuracy of a [500,500] classifier trained on n = {counts[-1]} "
        "labelled samples (± binomial s.e.)"
    )
    curve_table = (
        "Test accuracy against the number n of labelled training samples (paper 002 Fig. 3)"
    )
    se = lambda acc: binomial_stderr(acc, len(test))
    entries = []

    def add_row(label, curve, paper, epochs=None, paper_epochs=None):
        if epochs is not None:
            entries.append(Entry(table, label, "epochs", epochs, paper=paper_epochs, fmt=".3g"))
        entries.append(Entry(table, label, "accuracy", curve[-1], se(curve[-1]), paper, fmt=".3f"))
        for n, acc in zip(counts, curve, strict=True):
            entries.append(Entry(curve_table, label, f"n = {n}", acc, fmt=".3f"))

    add_row(LOWER_LABEL, curves.lower_bound, PAPER_LOWER_BOUND)
    for name, trained in ctx.models.items():
        paper = PAPER.get(name)
        add_row(
            paper.label if paper else name,
            curves.synthetic[name],
            paper and paper.accuracy,
            trained.epochs,
            paper and paper.epochs,
        )
    add_row(UPPER_LABEL, curves.upper_bound, None)
    truth_epochs = ctx.table.classifier_steps * ctx.table.classifier_batch_size / len(train)
    entries.append(
        Entry(
            table, TRUTH_LABEL, "epochs", truth_epochs, paper=PAPER_GROUND_TRUTH_EPOCHS, fmt=".3g"
        )
    )
    entries.append(
        Entry(
            table,
            TRUTH_LABEL,
            "accuracy",
            curves.ground_truth,
            se(curves.ground_truth),
            PAPER_GROUND_TRUTH,
            fmt=".3f",
        )
    )
    _save(
        f"{ctx.workdir}/accuracy_vs_samples.png",
        plotting.save_accuracy_curves,
        curves.sample_counts,
        {PAPER[n].label if n in PAPER else n: c for n, c in curves.synthetic.items()},
        {UPPER_LABEL: (curves.upper_bound, "k-o"), LOWER_LABEL: (curves.lower_bound, "k--o")},
        curves.ground_truth,
    )
    details = {
        "sample_counts": list(counts),
        "ground_truth": curves.ground_truth,
        "lower_bound": curves.lower_bound.tolist(),
        "upper_bound": curves.upper_bound.tolist(),
        "models": {
            name: {
                "epochs": trained.epochs,
                "train_seconds": trained.train_seconds,
                "synthetic": curves.synthetic[name].tolist(),
                "reinjection_step_size": trained.cfg.sampler.reinjection_step_size,
                "reinjection_restart_every": trained.cfg.sampler.reinjection_restart_every,
                "reinjection_chains": trained.cfg.sampler.reinjection_chains,
            }
            for name, trained in ctx.models.items()
        },
    }
    reinjection = sorted(
        {
            f"lambda = {s.reinjection_step_size:g}, R = {s.reinjection_restart_every}, "
            f"{s.reinjection_chains} chains"
            for s in (trained.cfg.sampler for trained in ctx.models.values())
        }
    )
    settings = (
        f"Reinjection: {'; '.join(reinjection)} (the paper's lambda and R are in its supplement, "
        f"which we do not have). Up to n = {counts[-1]} samples per model; every classifier "
        f"trains for {ctx.table.classifier_steps} steps of {ctx.table.classifier_batch_size} "
        "examples.\n\n"
    )
    return Result(entries, details, settings + NOTES)


NOTES = """\
Protocol: reinjection x_{n+1} = r(x_n) + sqrt(lambda) eps from N(0, I), restarting every R
steps and keeping samples after the second restart; the kept samples (noise included, as in Alg.
2) get the ground-truth classifier's softmax as soft labels. Every classifier ([500, 500] relu,
Adam 1e-3) trains for `classifier_steps` minibatches of `classifier_batch_size` whatever n is,
from the same initialisation; the upper bound uses min(n, training-set size) real images. The
paper instead streams fresh synthetic batches for 50 epochs of 40,000 samples and reports the
final accuracy; its lower bound is our first row. The autoencoders are the paper's
(configs/paper002_mnist.py): the deep models' 100-unit code is a relu bottleneck, the shallow
models' code is their single 32-unit tanh layer, and the DAEs corrupt the input with
salt-and-pepper noise (probability 0.5) and add N(0, 0.5²) to the first layer's pre-activations
in training.
"""
