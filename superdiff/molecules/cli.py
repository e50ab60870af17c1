"""``superdiff`` subcommands of the molecule area (parsing only; the work is in the package modules).

The method of ``sample-molecules`` (conditions, operator and its knobs, guidance, steps, seed, device) comes either
from flags or from one entry of a campaign's resolved methods file (``--methods results/<campaign>/methods.json
--method-name and``, written by ``superdiff write-campaign-config``); never from a mix of both.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from superdiff.files.atomic import write_json_atomic, write_parquet_atomic
from superdiff.files.methods import add_methods_file_arguments, method_settings_from
from superdiff.files.provenance import provenance, write_provenance


def _threads(n: int = 1) -> None:
    import torch

    torch.set_num_threads(n)


def cmd_train_predictors(args) -> int:
    from superdiff.molecules.predictors import train_predictors

    train_predictors(args.out, seed=args.seed, n_estimators=args.trees)
    return 0


def cmd_train_oracles(args) -> int:
    from superdiff.molecules.oracles import train_oracles

    train_oracles(args.out, seed=args.seed, n_estimators=args.trees)
    return 0


def cmd_train_autoencoder(args) -> int:
    _threads(args.threads)
    from superdiff.molecules.train_autoencoder import finetune_decoder, train_autoencoder

    if args.resumable:
        from superdiff.files.resources import resource_path
        from superdiff.molecules.resumable_autoencoder import ResumableSettings, train_resumable

        settings = ResumableSettings(steps=args.steps, batch_size=args.batch_size, lr=args.lr or ResumableSettings.lr,
                                     kl_weight=args.kl_weight, latent_dim=args.latent_dim, hidden_dim=args.hidden,
                                     embed_dim=args.embed_dim, n_moses=None if args.full_moses else args.n_moses,
                                     all_moleculeace=args.all_moleculeace, seed=args.seed)
        out = args.out or resource_path("weights", "molecules_faithful")
        record = train_resumable(out, settings, max_minutes=args.max_minutes,
                                 checkpoint_every=args.checkpoint_every, eval_every=args.eval_every,
                                 device=args.device)
        print(json.dumps({k: record[k] for k in ("step", "minutes", "held_out") if k in record}, indent=2))
        return 0
    if args.finetune_decoder:
        print(json.dumps(finetune_decoder(args.out, n_moses=args.n_moses, steps=args.steps, seed=args.seed,
                                          device=args.device), indent=2, default=str))
        return 0
    print(json.dumps(train_autoencoder(args.out, n_moses=args.n_moses, steps=args.steps, seed=args.seed,
                                       kl_weight=args.kl_weight, posterior_std_floor=args.posterior_std_floor,
                                       hidden_dim=args.hidden, batch_size=args.batch_size,
                                       all_moleculeace=args.all_moleculeace, device=args.device),
                     indent=2, default=str))
    return 0


def cmd_train_diffusion(args) -> int:
    _threads(args.threads)
    if args.resumable:
        from superdiff.files.resources import resource_path
        from superdiff.molecules.resumable_diffusion import DiffusionRunSettings, train_resumable_diffusion
        from superdiff.molecules.weights import default_weights_dir

        defaults = DiffusionRunSettings()
        settings = DiffusionRunSettings(
            steps=args.steps, batch_size=args.batch_size or defaults.batch_size, lr=args.lr or defaults.lr,
            hidden=args.hidden, blocks=args.blocks, positive_share=args.positive_share,
            labels=tuple(args.labels) if args.labels else defaults.labels,
            n_moses=None if args.full_moses else args.n_moses, all_moleculeace=args.all_moleculeace,
            oracle_disjoint=not args.no_oracle_disjoint, seed=args.seed)
        if args.prepare_labels:
            from superdiff.molecules.resumable_diffusion import corpus_labels

            _, y, report = corpus_labels(settings, args.predictors or default_weights_dir())
            print(json.dumps({**report, "positives": dict(zip(settings.labels, y.sum(0).tolist(), strict=True))}))
            return 0
        out = args.out or resource_path("weights", "molecules_faithful")
        record = train_resumable_diffusion(out, settings, args.predictors or default_weights_dir(),
                                           max_minutes=args.max_minutes, checkpoint_every=args.checkpoint_every,
                                           device=args.device)
        print(json.dumps({k: record[k] for k in ("step", "minutes", "stored") if k in record}, indent=2))
        return 0
    from superdiff.molecules.train_diffusion import train_diffusion

    print(json.dumps(train_diffusion(args.out, n_moses=args.n_moses, steps=args.steps, seed=args.seed,
                                     all_moleculeace=args.all_moleculeace, augment=args.augment,
                                     augment_sigma=args.augment_sigma, rare_copies=args.rare_copies,
                                     rare_sigma=args.rare_sigma,
                                     label_source=args.label_source,
                                     unbiased_oversampling=args.unbiased_oversampling,
                                     posterior_augment=args.posterior_augment,
                                     positive_share=args.positive_share, hidden=args.hidden, blocks=args.blocks,
                                     batch_size=args.batch_size or 256, device=args.device),
                     indent=2, default=str))
    return 0


#: the settings of a method, given as flags or by ``--methods FILE --method-name NAME``:
#: argparse dest -> (flag, key of the methods-file entry)
METHOD_FLAGS = {
    "condition": ("--condition", "conditions"), "method": ("--method", "operator"), "index": ("--index", "index"),
    "guidance": ("--guidance", "guidance"), "seed": ("--seed", "seed"), "steps": ("--steps", "steps"),
    "curvature_correction": ("--no-curvature-correction", "curvature_correction"),
    "curvature_every": ("--curvature-every", "curvature_every"),
    "and_target": ("--and-target", "and_target"), "exponent": ("--exponent", "exponents"),
    "device": ("--device", "device"), "latent_model": ("--latent-model", "latent_model"),
}
#: method flags a command line without --methods must give
REQUIRED_FLAGS = ("condition", "method", "seed")


def _method_defaults() -> dict[str, Any]:
    """What an unset method flag means: the defaults of :meth:`MoleculeSampler.latents`."""
    import inspect

    from superdiff.molecules.latent_model import BUILTIN
    from superdiff.molecules.sampling import MoleculeSampler

    params = inspect.signature(MoleculeSampler.latents).parameters
    defaults = {dest: params[dest].default for dest in ("index", "guidance", "steps", "curvature_correction",
                                                         "curvature_every", "and_target")}
    return {"condition": None, "method": None, "seed": None, "exponent": None, "device": "cpu",
            "latent_model": BUILTIN, **defaults}


def method_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The method's settings by argparse dest: from the flags (defaults filled in) or from ``--methods``
    (:func:`superdiff.files.methods.method_settings_from`)."""
    return method_settings_from(args, "molecules", METHOD_FLAGS, REQUIRED_FLAGS, _method_defaults())


def sample_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Everything that decides a ``sample-molecules`` table (its provenance; equal settings skip a rerun)."""
    s = method_settings(args)
    if s["curvature_every"] < 1:
        raise ValueError(f"--curvature-every {s['curvature_every']}: expected an integer >= 1 (1: the curvature "
                         "term on every step)")
    return {"conditions": list(s["condition"]), "method": s["method"], "index": s["index"],
            "guidance": s["guidance"], "num": args.num, "first_index": args.first_index, "seed": s["seed"],
            "steps": s["steps"], "curvature_correction": s["curvature_correction"],
            "curvature_every": s["curvature_every"],
            "and_log_ratio": args.and_log_ratio, "and_target": s["and_target"], "calibration": args.calibration,
            "kappa_from": args.kappa_from, "exponents": s["exponent"],
            "weights": str(args.weights) if args.weights else None, "latent_model": s["latent_model"],
            "resample_until": args.resample_until}


#: keywords of :meth:`MoleculeSampler.sample` taken from :func:`sample_settings` as they are
SAMPLE_KEYWORDS = ("index", "guidance", "num", "first_index", "seed", "steps", "curvature_correction",
                   "curvature_every", "and_log_ratio", "and_target", "calibration", "kappa_from", "exponents",
                   "resample_until")


def _cached_typical_path(args, settings: dict[str, Any], sampler):
    """``--typical-path FILE``: the campaign's AND calibration, checked against this run's settings (None without
    the flag)."""
    if args.typical_path is None:
        return None
    if settings["method"] != "and" or settings["and_target"] != "typical":
        raise ValueError(f"--typical-path {args.typical_path}: only --method and with --and-target typical uses a "
                         f"calibration (this run: method {settings['method']}, and_target {settings['and_target']})")
    from superdiff.molecules.calibration import calibration_settings, read_calibration

    return read_calibration(args.typical_path, calibration_settings(settings, sampler.fingerprint))


def cmd_sample(args) -> int:
    _threads()
    from superdiff.files.lock import folder_lock
    from superdiff.molecules.metrics import composition_table
    from superdiff.molecules.sampling import MoleculeSampler, same_settings

    out = Path(args.out)
    settings = sample_settings(args)
    target = out / "molecules.parquet"
    prov = out / "provenance.json"
    with folder_lock(out):
        if target.exists() and prov.exists() and not args.force and same_settings(prov, settings):
            print(f"{target} exists with the same settings; skipping (use --force to redo)")
            return 0
        sampler = MoleculeSampler.load(args.weights, method_settings(args)["device"], settings["latent_model"])
        typical_path = _cached_typical_path(args, settings, sampler)
        frame, timing = sampler.sample(settings["conditions"], settings["method"], batch_size=args.batch_size,
                                       typical_path=typical_path, progress=True,
                                       **{k: settings[k] for k in SAMPLE_KEYWORDS})
        write_parquet_atomic(target, frame)
        summary = {"validity": float(frame["valid"].mean()), **timing,
                   "typical_path": str(args.typical_path) if typical_path is not None else None}
        if len(settings["conditions"]) >= 2:
            summary.update(composition_table(frame, settings["conditions"]))
        write_provenance(out, {**settings, "summary": summary})
    print(json.dumps(summary, indent=2))
    return 0


def cmd_calibrate(args) -> int:
    """``calibrate-molecules``: AND's typical-path calibration of one method, computed once for every shard."""
    _threads()
    from superdiff.molecules.calibration import calibration_settings, write_calibration
    from superdiff.molecules.sampling import MoleculeSampler

    s = method_settings(args)
    if s["method"] != "and" or s["and_target"] != "typical":
        raise ValueError(f"calibrate-molecules: method {s['method']!r} with and_target {s['and_target']!r} has no "
                         "calibration; only --method and with --and-target typical has one")
    sampler = MoleculeSampler.load(args.weights, s["device"], s["latent_model"])
    run = {"conditions": list(s["condition"]), "guidance": s["guidance"], "kappa_from": args.kappa_from,
           "seed": s["seed"], "steps": s["steps"], "calibration": args.calibration, "latent_model": s["latent_model"]}
    settings = calibration_settings(run, sampler.fingerprint)
    path = sampler.typical_path(settings["conditions"], guidance=s["guidance"], kappa_from=args.kappa_from,
                                seed=s["seed"], steps=s["steps"], batch_size=args.batch_size,
                                calibration=args.calibration, progress=True)
    write_calibration(args.out, settings, path)
    print(f"AND calibration ({len(settings['conditions'])} conditions x {args.calibration} designs, "
          f"{s['steps']} steps) -> {args.out}")
    return 0


def cmd_score(args) -> int:
    from superdiff.molecules.data import read_smiles_file
    from superdiff.molecules.predictors import PropertyPredictor

    raw, report = read_smiles_file(args.input, args.column)
    frame = PropertyPredictor(args.weights).score_smiles(raw)
    write_parquet_atomic(args.out, frame)
    write_json_atomic(Path(args.out).with_suffix(".provenance.json"),
                      provenance({"input": str(args.input), "column": args.column, **report.summary()}))
    if report.n_invalid:
        print(f"{args.input}: {report.n_invalid} of {report.n_input} SMILES are invalid (kept as valid=False), "
              f"e.g. {report.invalid_examples[:3]}", file=sys.stderr)
    print(f"scored {report.n_input} molecules ({report.n_input - report.n_invalid} valid) -> {args.out}")
    return 0


def _sample_table(item: str | Path):
    """``(path, frame)`` of a sample-molecules output folder or table, with the columns the metrics need."""
    import pandas as pd

    folder = Path(item)
    path = folder / "molecules.parquet" if folder.is_dir() else folder
    if not path.exists():
        raise FileNotFoundError(f"no sample table at {path} (expected a sample-molecules output folder)")
    frame = pd.read_parquet(path)
    missing = {"smiles", "valid", "canonical"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}; score it with superdiff score-molecules")
    return path, frame


def _run_name(path: Path, settings: dict[str, Any], taken) -> str:
    """A run's name: its method (``single:<condition>`` for one condition alone), else its folder."""
    name = settings.get("method", path.parent.name)
    if settings.get("method") == "single":
        name = f"single:{settings['conditions'][settings.get('index', 0)]}"
    return f"{name}:{path.parent.name}" if name in taken else name


def _metric_runs(args):
    """``(name, path, settings, frame)`` per run: one per table, or with ``--by`` one per value of that column."""
    for item in args.samples:
        path, frame = _sample_table(item)
        if args.by:
            if args.by not in frame.columns:
                raise KeyError(f"{path} has no column {args.by!r} to split the runs by")
            for value, group in frame.groupby(args.by, sort=False):
                yield str(value), path, {}, group.reset_index(drop=True)
            continue
        prov_path = path.parent / "provenance.json"
        settings = json.loads(prov_path.read_text()).get("settings", {}) if prov_path.exists() else {}
        yield None, path, settings, frame


def cmd_metrics(args) -> int:
    import pandas as pd

    from superdiff.molecules.data import canonicalize
    from superdiff.molecules.metrics import composition_table, generation_metrics

    runs, rows = {}, []
    oracle = _oracle_scorer(args.oracles)
    for name, path, settings, frame in _metric_runs(args):
        name = name or _run_name(path, settings, runs)
        recheck = canonicalize(frame["smiles"].fillna("").tolist())
        conds = args.condition or settings.get("conditions", [])
        entry = {"path": str(path), "settings": settings, "invalid_smiles": recheck.n_invalid,
                 **generation_metrics(frame, with_novelty=args.novelty, fcd_reference=args.fcd_reference)}
        if len(conds) >= 2:
            entry["composition"] = composition_table(frame, conds)
            rows.append({"run": name, **entry["composition"], "validity": entry["validity"],
                         "uniqueness": entry["uniqueness"], "novelty": entry.get("novelty"),
                         "internal_diversity": entry["internal_diversity"], "fcd": entry.get("fcd_vs_moses_test"),
                         "snn": entry.get("snn_vs_moses_test"), "frag": entry.get("frag_vs_moses_test"),
                         "scaf": entry.get("scaf_vs_moses_test")})
        if oracle is not None and conds:
            entry["oracle"] = oracle.composition(frame["smiles"].fillna("").tolist(), conds)
            if rows and rows[-1]["run"] == name:
                rows[-1] |= {f"oracle_{k}": v for k, v in entry["oracle"]["table"].items()}
        runs[name] = entry
    write_json_atomic(args.out, {"runs": runs, "provenance": provenance(vars(args))})
    if rows:
        table = pd.DataFrame(rows)
        write_parquet_atomic(Path(args.out).with_suffix(".parquet"), table)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


def _oracle_scorer(enabled: bool):
    """The independent oracles (``--oracles``) or None."""
    if not enabled:
        return None
    from superdiff.molecules.oracles import OracleScorer

    return OracleScorer()


def register(sub: argparse._SubParsersAction) -> None:
    """Add the molecule subcommands."""
    _register_train_predictors(sub)
    _register_train_oracles(sub)
    _register_train_autoencoder(sub)
    _register_train_diffusion(sub)
    _register_sample_molecules(sub)
    _register_calibrate_molecules(sub)
    _register_score_molecules(sub)
    _register_molecule_metrics(sub)


def _register_train_predictors(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-predictors", help="train the GSK3β / JAK2 activity forests (MoleculeACE + MOSES)")
    p.add_argument("--out", type=Path, default=None, help="weights folder (default resources/weights/molecules)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--trees", type=int, default=200)
    p.set_defaults(func=cmd_train_predictors)


def _register_train_oracles(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-oracles", help="scaffold-split GSK3β / JAK2 forests: half-A predictors and the "
                                             "independent half-B oracles that judge generated molecules")
    p.add_argument("--out", type=Path, default=None, help="weights folder (default resources/weights/molecules)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--trees", type=int, default=200)
    p.set_defaults(func=cmd_train_oracles)


def _training_parser(sub: argparse._SubParsersAction, name: str, steps: int, help_: str) -> argparse.ArgumentParser:
    """A training subcommand with the options both molecule trainers share."""
    p = sub.add_parser(name, help=help_)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--n-moses", type=int, default=60000)
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--all-moleculeace", action="store_true",
                   help="add every MoleculeACE molecule (30 ChEMBL targets) to the training corpus")
    return p


def _register_train_autoencoder(sub: argparse._SubParsersAction) -> None:
    p = _training_parser(sub, "train-molecule-autoencoder", 1600, "train the SELFIES VAE on MOSES")
    p.add_argument("--finetune-decoder", action="store_true",
                   help="continue training only the decoder of the stored autoencoder (latents unchanged)")
    p.add_argument("--kl-weight", type=float, default=0.02, help="β of the KL term (annealed over 30 %%)")
    p.add_argument("--posterior-std-floor", type=float, default=0.0,
                   help="lower bound on every posterior std (prior units); larger = smoother decoder")
    p.add_argument("--hidden", type=int, default=256, help="GRU width")
    p.add_argument("--batch-size", type=int, default=128)
    _resumable_arguments(p, eval_every=True)
    p.set_defaults(func=cmd_train_autoencoder)


def _resumable_arguments(p: argparse.ArgumentParser, eval_every: bool = False) -> None:
    """The staged trainers' options (``--resumable``; outputs in resources/weights/molecules_faithful)."""
    staged = p.add_argument_group("resumable staged training (resources/weights/molecules_faithful by default)")
    staged.add_argument("--resumable", action="store_true",
                        help="resumable trainer: a run stops after --max-minutes and the next resumes from "
                             "<out>/<artefact>.state.pt")
    staged.add_argument("--full-moses", action="store_true", help="train on the whole MOSES train split")
    staged.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the trainer's)")
    staged.add_argument("--max-minutes", type=float, default=float("inf"), help="stop this run after N minutes")
    staged.add_argument("--checkpoint-every", type=int, default=200)
    staged.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    if eval_every:
        staged.add_argument("--latent-dim", type=int, default=128)
        staged.add_argument("--embed-dim", type=int, default=64)
        staged.add_argument("--eval-every", type=int, default=1000,
                            help="held-out reconstruction (1,000 MOSES test molecules) every N steps")


def _register_train_diffusion(sub: argparse._SubParsersAction) -> None:
    p = _training_parser(sub, "train-molecule-diffusion", 10000, "train the label-conditioned latent diffusion")
    p.add_argument("--augment", type=int, default=0,
                   help="jittered copies of every corpus latent (labelled as --label-source says)")
    p.add_argument("--augment-sigma", type=float, default=0.1,
                   help="std of the jitter in standardised latent units")
    p.add_argument("--rare-copies", type=int, default=0,
                   help="extra jittered copies of every latent that decodes to a GSK3β/JAK2 positive")
    p.add_argument("--rare-sigma", type=float, default=0.2,
                   help="std of the jitter of those extra copies (standardised latent units)")
    p.add_argument("--label-source", choices=("input", "decoded"), default="input",
                   help="label a latent by the molecule it was encoded from (default) or decodes to")
    p.add_argument("--posterior-augment", action="store_true",
                   help="the --augment copies are draws from the encoder posterior q(z|molecule)")
    p.add_argument("--unbiased-oversampling", action="store_true",
                   help="joint oversampling factors and importance-weighted loss for unspecified labels "
                        "(unconditional and other-label models then learn the natural distribution)")
    p.add_argument("--positive-share", type=float, default=0.15,
                   help="oversample each rare activity label's positives to about this batch share")
    p.add_argument("--hidden", type=int, default=256, help="width of the ε-network")
    p.add_argument("--blocks", type=int, default=3, help="residual blocks of the ε-network")
    p.add_argument("--batch-size", type=int, default=None, help="default 256 (1024 with --resumable)")
    p.add_argument("--labels", nargs="+", default=None, help="with --resumable: the labels (default: all known)")
    p.add_argument("--prepare-labels", action="store_true",
                   help="with --resumable: only label the corpus (cached; needs no autoencoder) and exit")
    p.add_argument("--no-oracle-disjoint", action="store_true",
                   help="with --resumable: label with the predictors trained on all rows and keep the oracles' "
                        "molecules in the corpus (default: half-A predictors, oracle data left out)")
    p.add_argument("--predictors", type=Path, default=None,
                   help="with --resumable: the folder of the labelling predictors (default: the built-in weights)")
    _resumable_arguments(p)
    p.set_defaults(func=cmd_train_diffusion)


def _add_method_arguments(p: argparse.ArgumentParser) -> None:
    """sample-molecules' method flags, and their alternative ``--methods``/``--method-name``."""
    from superdiff.molecules.conditions import LABELS
    from superdiff.molecules.sampling import AND_TARGETS, METHODS

    d = _method_defaults()
    g = add_methods_file_arguments(p)
    g.add_argument("--condition", action="append", default=None,
                   help=f"property condition, repeatable; one of {sorted(LABELS)} (required without --methods)")
    g.add_argument("--method", default=None, choices=METHODS, help="composition (required without --methods)")
    g.add_argument("--index", type=int, default=None,
                   help=f"which condition for --method single (default {d['index']})")
    g.add_argument("--guidance", type=float, default=None,
                   help=f"classifier-free guidance weight w (1 = none; default {d['guidance']})")
    g.add_argument("--seed", type=int, default=None, help="campaign seed (required without --methods)")
    g.add_argument("--steps", type=int, default=None, help=f"reverse-SDE steps (default {d['steps']})")
    g.add_argument("--no-curvature-correction", action="store_false", default=None, dest="curvature_correction",
                   help="AND without the curvature term")
    g.add_argument("--curvature-every", type=int, default=None,
                   help="AND: compute the curvature term every k-th step, extrapolated between (default "
                        f"{d['curvature_every']}: every step, exact)")
    g.add_argument("--and-target", choices=AND_TARGETS, default=None,
                   help="AND equalises each conditional density relative to its model's typical level (typical, "
                        "default: a calibration pass samples each condition alone and AND follows the difference of "
                        "their mean log-density paths), the densities q(x|c_i) themselves (density: the paper's "
                        "AND) or the label posteriors p(c_i|x) (bias -log p(c_i) from the stored label frequencies)")
    g.add_argument("--exponent", type=float, action="append", default=None,
                   help="product: exponent c_i per condition (repeat; default all 1); the guided target is "
                        "q_u^(1 - w Σc) Π q_i^(w c_i), sampled exactly with SMC")
    g.add_argument("--device", default=None, help=f"torch device (default {d['device']})")
    g.add_argument("--latent-model", default=None,
                   help="the generator: builtin (SELFIES VAE + latent diffusion; default) or module:factory returning "
                        "an object with the latent-model contract (docs/molecules.md)")


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The options sample-molecules and calibrate-molecules share besides the method: calibration size, κ
    recipe, batch and weights."""
    from superdiff.engine.guidance import DEFAULT_KAPPA_FROM, KAPPA_FROM
    from superdiff.molecules.sampling import DEFAULT_CALIBRATION

    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--calibration", type=int, default=DEFAULT_CALIBRATION,
                   help="--and-target typical: calibration designs per condition (same for every shard)")
    p.add_argument("--kappa-from", choices=KAPPA_FROM, default=DEFAULT_KAPPA_FROM,
                   help="solve κ for the guided step (default) or, as the reference code, for the unguided one")
    p.add_argument("--weights", type=Path, default=None,
                   help="molecule weights folder: predictors and the built-in latent model")


def _register_sample_molecules(sub: argparse._SubParsersAction) -> None:
    from superdiff.molecules.guidance import PRODUCT_RESAMPLE_UNTIL
    from superdiff.molecules.sampling import DEFAULT_AND_LOG_RATIO

    p = sub.add_parser("sample-molecules", help="sample molecules under composed property conditions")
    _add_method_arguments(p)
    _add_run_arguments(p)
    p.add_argument("--num", type=int, required=True)
    p.add_argument("--first-index", type=int, default=0,
                   help="number the designs from this index (a shard of a larger run); seeds follow the index")
    p.add_argument("--and-log-ratio", type=float, default=DEFAULT_AND_LOG_RATIO,
                   help="AND only, two conditions: extra target final log q_1 - log q_2 in nats")
    p.add_argument("--resample-until", type=float, default=PRODUCT_RESAMPLE_UNTIL,
                   help="product: resample the population only while the forward time is above this (0: to the end; "
                        f"default {PRODUCT_RESAMPLE_UNTIL}: later copies collapse onto the same molecule)")
    p.add_argument("--typical-path", type=Path, default=None,
                   help="AND (typical): the calibration written by calibrate-molecules for these settings, "
                        "instead of computing it in this run (refused if its settings differ)")
    p.add_argument("--force", action="store_true")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_sample)


def _register_calibrate_molecules(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate-molecules",
                       help="AND (and_target typical): compute the calibration pass once for every shard")
    _add_method_arguments(p)
    _add_run_arguments(p)
    p.add_argument("--out", type=Path, required=True, help="calibration JSON (read by sample-molecules "
                                                           "--typical-path)")
    p.set_defaults(func=cmd_calibrate)


def _register_score_molecules(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score-molecules", help="properties and predictor probabilities of a SMILES file")
    p.add_argument("--input", type=Path, required=True, help="CSV/TSV/parquet with a smiles column, or .smi text")
    p.add_argument("--column", default=None)
    p.add_argument("--weights", type=Path, default=None)
    p.add_argument("--out", type=Path, required=True, help="output parquet")
    p.set_defaults(func=cmd_score)


def _register_molecule_metrics(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("molecule-metrics", help="generation metrics and the composition table of sample runs")
    p.add_argument("--samples", nargs="+", required=True, help="sample-molecules output folders or parquet files")
    p.add_argument("--by", default=None,
                   help="one run per value of this column of each table (e.g. method, for the campaign's table)")
    p.add_argument("--condition", action="extend", nargs="+", default=None,
                   help="conditions for the table (repeatable, or several after one flag; default: the run's)")
    p.add_argument("--fcd-reference", type=int, default=2000, help="MOSES test molecules for FCD (0 = skip)")
    p.add_argument("--novelty", action=argparse.BooleanOptionalAction, default=True,
                   help="novelty against the MOSES training set (--no-novelty: skip)")
    p.add_argument("--oracles", action="store_true",
                   help="also the composition table by the independent oracles (superdiff train-oracles): "
                        "oracle_* columns, and an 'oracle' entry per run")
    p.add_argument("--out", type=Path, required=True, help="output JSON (a .parquet table is written beside it)")
    p.set_defaults(func=cmd_metrics)
